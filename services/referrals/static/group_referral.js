// One referral to a community group: GET /group/connections/{id}. The person's name and
// contact details appear only when the API gives them (they consented to share); the
// group accepts, or declines with a reason (and can change its answer), and records what
// happened: they came, did not come, or completed it.
"use strict";

(() => {
  const root = document.getElementById("group-referral");
  const id = encodeURIComponent(root.dataset.id);
  const pageStatus = document.getElementById("page-status");
  const message = document.getElementById("message");

  const row = (term, ...value) => [sp.h("dt", {}, term), sp.h("dd", {}, ...value)];
  const list = (values) => (values && values.length ? values.map(sp.words).join(", ") : "None recorded");
  const CONTACT_WORDS = { phone: "Phone", text: "Text message", email: "Email", letter: "Letter to postcode" };

  function render(c) {
    document.getElementById("person-name").textContent = c.contact ? c.person : `Referral for ${c.person}`;
    const contact = c.contact
      ? [`${CONTACT_WORDS[c.contact.preferred] || sp.words(c.contact.preferred)}: `, sp.h("strong", { class: "contact-detail" }, c.contact.detail || "—")]
      : [sp.h("span", { class: "empty" }, `Not shared: ${c.contact_note}. The link worker will put you in touch.`)];
    document.getElementById("details").replaceChildren(
      ...row("Service", c.service_name),
      ...row("Referred", sp.date(c.referred_at)),
      ...row("Contact", ...contact),
      ...row("Needs", list(c.need_categories)),
      ...(c.summary ? row("From the link worker", c.summary) : []),
      ...row("Languages", list(c.languages)),
      ...row("Accessibility needs", list(c.accessibility_needs)),
      ...row("Outcome", c.outcome ? sp.words(c.outcome) : "Not recorded yet"),
    );
    const given = document.getElementById("answer-given");
    given.replaceChildren(
      ...(c.response
        ? [`You ${c.response} this referral`, c.response_reason ? `: ${c.response_reason}` : "."]
        : ["You have not answered yet."]),
    );
    document.getElementById("answer-actions").hidden = Boolean(c.response);
    document.getElementById("change-answer").hidden = !c.response;
    document.getElementById("outcome").hidden = c.response !== "accepted";
  }

  async function load() {
    const answer = await sp.api("GET", `/group/connections/${id}`);
    if (!answer.ok) {
      pageStatus.textContent = answer.status === 404 ? "There is no such referral to your organisation." : `Could not load the referral: ${answer.data?.detail}`;
      return;
    }
    render(answer.data);
    document.getElementById("sections").hidden = false;
    pageStatus.textContent = "";
  }

  async function respond(kind, body, form) {
    sp.notify(message, "");
    const answer = await sp.api("POST", `/group/connections/${id}/${kind}`, body);
    if (!answer.ok) {
      const rest = form ? sp.showErrors(form, answer.data) : answer.data?.detail;
      if (rest) sp.notify(message, rest, "error");
      return;
    }
    await load();
    sp.notify(message, kind === "accept" ? "Accepted: the link worker can see your answer." : "Declined: the link worker can see why.", "success");
    const full = answer.data?.update_capacity;
    if (full) {  // declining because full: offer the one-click places control
      message.append(" ", sp.h("a", { href: `${root.dataset.directory}${full.href}` }, "Mark the service full or waiting list"),
        ` on your services page: a full service is not offered to link workers, a waiting-list one only after services with places.`);
    }
  }

  const OUTCOME_WORDS = { attended: "they came", did_not_attend: "they did not come", completed: "they completed it" };
  document.querySelectorAll(".record-outcome").forEach((button) => button.addEventListener("click", async () => {
    const answer = await sp.api("POST", `/group/connections/${id}/outcome`, { outcome: button.dataset.outcome });
    if (!answer.ok) return sp.notify(message, answer.data?.detail || "That did not work.", "error");
    await load();
    sp.notify(message, `Recorded: ${OUTCOME_WORDS[button.dataset.outcome]}.`, "success");
  }));
  document.getElementById("change-answer").addEventListener("click", () => {
    document.getElementById("answer-actions").hidden = false;
  });

  document.getElementById("accept").addEventListener("click", () => respond("accept", {}, null));
  const decline = document.getElementById("decline-form");
  decline.addEventListener("submit", (event) => {
    event.preventDefault();
    respond("decline", { reason: decline.reason.value.trim(), because_full: decline.because_full.checked }, decline);
  });
  load();
})();
