// One referral: the person, their needs, the matcher's proposals (which arrive a moment
// after the referral does, so the page polls until they are there), connections and
// their outcomes, and once closed the message back to the GP. Link workers act on it
// through the referral's API routes; GP staff see the same page read-only. Each section
// is one render function: add more the same way. Other scripts (link_work.js) hear each
// load as a "referral-loaded" event on #referral and ask for one with "referral-reload".
"use strict";

(() => {
  const root = document.getElementById("referral");
  const id = encodeURIComponent(root.dataset.id);
  const acts = root.dataset.acts === "yes";
  const purpose = encodeURIComponent(root.dataset.purpose);
  const pageStatus = document.getElementById("page-status");
  const message = document.getElementById("message");
  const OUTCOMES = {
    attended: "Attended",
    did_not_attend: "Did not attend",
    declined_by_patient: "They declined it",
    no_capacity: "No place for them",
    completed: "Completed",
  };
  const outcomeWords = (o) => OUTCOMES[o] || sp.words(o);
  const POLL_MS = 1000;
  const POLL_LIMIT = 120;
  let polls = 0;
  let timer = null;
  let current = null; // the referral as last loaded

  // --- drawing -------------------------------------------------------------------------

  function row(term, ...value) {
    return [sp.h("dt", {}, term), sp.h("dd", {}, ...value)];
  }

  const list = (values) => (values && values.length ? values.map(sp.words).join(", ") : "None recorded");

  function renderAbout(r) {
    document.getElementById("person-name").textContent = `${r.given_name} ${r.family_name}`;
    const contact = [r.phone, r.email].filter(Boolean).join(", ") || "—";
    document.getElementById("about").replaceChildren(
      ...row("Status", sp.statusTag(r.status), r.closed_reason ? ` — ${r.closed_reason}` : ""),
      ...row("Urgency", sp.urgencyTag(r.urgency)),
      ...row("NHS number", r.nhs_number.replace(/^(\d{3})(\d{3})(\d{4})$/, "$1 $2 $3")),
      ...row("Date of birth", `${sp.date(r.birth_date)} (age ${r.age})`),
      ...row("Gender", sp.words(r.gender)),
      ...row("Postcode", `${r.postcode}${r.ward ? ` (${r.ward} ward)` : ""}`),
      ...row("Contact", `${contact}; prefers ${sp.words(r.preferred_contact)}`),
      ...row("Languages", list(r.languages)),
      ...row("Accessibility needs", list(r.accessibility_needs)),
      ...row("Can take part", r.delivery_modes.length ? list(r.delivery_modes) : "Any way"),
      ...row("Consent", r.consent_to_share ? "To referral and to sharing contact details" : "To referral only (contact details not to be shared)"),
      ...row("Referred", `${sp.date(r.created_at)} by ${r.referrer_name} (${r.practice_ods})`),
    );
  }

  /** Who, what they need, where it stands and, for link workers, the next step. */
  function renderSummary(r) {
    const needs = r.needs_text.length > 160 ? `${r.needs_text.slice(0, 160).replace(/\s+\S*$/, "")}…` : r.needs_text;
    const who = `${r.given_name} ${r.family_name}, ${r.age}${r.ward ? `, ${r.ward} ward` : ""}`;
    const step = acts ? nextStep(r) : null;
    document.getElementById("summary-facts").replaceChildren(
      ...row("Who", who),
      ...row("Needs", needs),
      ...row("Status", sp.statusTag(r.status), " ", sp.urgencyTag(r.urgency),
        r.flagged ? [" ", sp.h("span", { class: "tag urgency-urgent" }, "Flagged")] : null,
        acts ? ` · ${r.assigned_to ? `with ${r.assigned_to === root.dataset.me ? "you" : r.assigned_to_name || "another link worker"}` : "nobody has taken it yet"}` : ""),
      ...(step ? row("Next step", sp.h("a", { class: "next-step", href: `#${step.target}` }, step.text)) : []),
    );
  }

  /** The one thing to do next on this referral, and the section where it is done. */
  function nextStep(r) {
    if (r.status === "closed") return null;
    const reached = (r.contact_attempts || []).some((a) => a.result === "reached" || a.result === "declined");
    const waiting = r.connections.find((c) => c.mode === "referral" && c.organisation_id && !c.group_response);
    const noOutcome = r.connections.find((c) => !c.outcome);
    if (!reached && r.connections.length === 0) {
      return r.flagged
        ? { text: `Check their contact details with the practice: ${r.flag_reason}`, target: "contact" }
        : { text: "Try to reach them, and log the attempt", target: "contact" };
    }
    if (r.connections.length === 0) return { text: "Confirm a proposed group, or search the directory", target: "proposals-heading" };
    if (waiting) return { text: `Wait for ${waiting.service_name} to answer, or chase them`, target: "connections-heading" };
    if (noOutcome) return { text: `Record what happened at ${noOutcome.service_name}`, target: "connections-heading" };
    return { text: "Record follow-up wellbeing and close the referral", target: "wellbeing" };
  }

  function renderNeeds(r) {
    document.getElementById("needs-text").textContent = r.needs_text;
    const found = (r.needs_found || []).map((n) => `${n.phrase} → ${sp.words(n.concept)}`);
    const unmet = (r.unmet_needs || []).map((n) => (typeof n === "string" ? n : n.phrase || JSON.stringify(n)));
    document.getElementById("needs-found").replaceChildren(
      ...(found.length ? row("Needs recognised", found.join("; ")) : []),
      ...(unmet.length ? row("No good match yet for", unmet.join("; ")) : []),
    );
  }

  function connectButtons(serviceId, serviceName, organisationId = null) {
    const connect = (mode) => () =>
      act("POST", `/referrals/${id}/connections`, { service_id: serviceId, service_name: serviceName, mode, organisation_id: organisationId }, null,
        `${serviceName}: ${mode === "referral" ? "referral confirmed" : "signposting recorded"}.`,
        () => document.querySelector(`#connections li[data-service-id="${CSS.escape(serviceId)}"]`));
    return sp.h("div", { class: "actions" },
      sp.h("button", { type: "button", onclick: connect("referral") }, "Confirm as referral"),
      sp.h("button", { type: "button", class: "secondary", onclick: connect("signposting") }, "Confirm as signposting"),
    );
  }

  /** The score taken apart: relevance to the needs times each factor (their product). */
  function scoreBreakdown(breakdown) {
    const parts = Object.entries(breakdown || {});
    if (!parts.length) return null;
    return sp.h("details", { class: "breakdown" },
      sp.h("summary", {}, "How the score is made"),
      sp.h("ul", {}, ...parts.map(([name, value]) => sp.h("li", {}, `${sp.words(name)}: ${Number(value).toFixed(2)}`))));
  }

  function proposalCard(p, open) {
    const decided = p.decision ? sp.h("span", { class: `tag decision-${p.decision}` }, p.decision === "declined" ? `Declined: ${p.decline_reason}` : "Confirmed") : null;
    const facts = [
      `Score ${Number(p.score).toFixed(2)}`,
      p.distance_km !== null && p.distance_km !== undefined ? `${Number(p.distance_km).toFixed(1)} km away` : null,
      p.waiting_list ? "Waiting list" : null,
    ].filter(Boolean).join(" · ");
    return sp.h("li", { class: "card", "data-service-id": p.service_id },
      sp.h("h3", {}, p.service_name, " ", decided),
      sp.h("p", { class: "meta" }, `For: ${p.need} (${sp.words(p.concept)}) · ${facts}`),
      p.responsiveness
        ? sp.h("p", { class: "responsiveness", title: `over the last 12 months, from ${p.responsiveness.answered} answered referrals` },
          `The group ${p.responsiveness.text}`)
        : null,
      sp.h("ul", { class: "reasons" }, ...(p.reasons || []).map((reason) => sp.h("li", {}, reason))),
      scoreBreakdown(p.breakdown),
      acts && open && !p.decision
        ? [
            connectButtons(p.service_id, p.service_name),
            sp.h("div", { class: "choice" },
              sp.h("input", { type: "checkbox", id: `decline-${p.service_id}`, value: p.service_id, class: "decline-pick" }),
              sp.h("label", { for: `decline-${p.service_id}` }, `Select ${p.service_name} to decline`)),
          ]
        : null,
    );
  }

  function renderProposals(r) {
    const open = r.status !== "closed";
    const matching = r.status === "submitted" && r.proposals.length === 0;
    document.getElementById("matching").hidden = !matching;
    const cards = r.proposals.map((p) => proposalCard(p, open));
    if (!matching && cards.length === 0) cards.push(sp.h("li", { class: "empty" }, "The matcher found no suitable groups. Search the directory below."));
    document.getElementById("proposals").replaceChildren(...cards);
    const decline = document.getElementById("decline-form");
    if (decline) decline.hidden = !open || !r.proposals.some((p) => !p.decision);
  }

  /** No outcome is preselected: the button waits for a choice, so one click never
   *  records an outcome nobody chose. */
  function outcomeForm(c, open) {
    const select = sp.h("select", { id: `outcome-${c.id}`, name: "outcome" },
      sp.h("option", { value: "", selected: !c.outcome }, "Choose an outcome"),
      ...Object.entries(OUTCOMES).map(([o, text]) => sp.h("option", { value: o, selected: c.outcome === o }, text)));
    const button = sp.h("button", { type: "submit", class: "secondary", disabled: true }, c.outcome ? "Change outcome" : "Record outcome");
    select.addEventListener("change", () => {
      button.disabled = select.value === "" || select.value === c.outcome;
    });
    const form = sp.h("form", { class: "inline-form" },
      sp.h("div", { class: "field inline", "data-field": "outcome" },
        sp.h("label", { for: select.id }, `Outcome for ${c.service_name}`),
        sp.h("p", { class: "field-error", hidden: true }),
        select),
      button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!select.value) return;
      act("POST", `/referrals/${id}/connections/${encodeURIComponent(c.id)}/outcome`, { outcome: select.value }, form,
        `Outcome recorded for ${c.service_name}: ${outcomeWords(select.value)}.`,
        () => document.querySelector(`#connections li[data-connection-id="${CSS.escape(c.id)}"]`));
    });
    return open ? form : null;
  }

  /** What is unfinished on a referral, in words: outcomes not recorded, groups that
   *  have not answered a referral made to them; with no connection at all, that and the
   *  proposals nobody decided on. */
  function unfinished(r) {
    const missing = [];
    for (const c of r.connections) {
      if (c.mode === "referral" && c.organisation_id && !c.group_response) missing.push(`${c.service_name} has not answered the referral.`);
      if (!c.outcome) missing.push(`No outcome is recorded for ${c.service_name}.`);
    }
    if (r.connections.length > 0) return missing;
    missing.push("They are not connected to any group or service.");
    const undecided = r.proposals.filter((p) => !p.decision).length;
    if (undecided) missing.push(`${undecided} proposed group${undecided === 1 ? " is" : "s are"} neither confirmed nor declined.`);
    return missing;
  }

  /** The group's answer to a referral made to it (group members accept or decline). */
  function groupAnswer(c) {
    if (!c.organisation_id) return sp.h("p", { class: "hint" }, "No group can see this referral: the service has no organisation in the directory.");
    if (!c.group_response) return sp.h("p", { class: "group-answer" }, "Group's answer: ", sp.h("strong", {}, "waiting for the group"));
    const accepted = c.group_response === "accepted";
    return sp.h("p", { class: "group-answer" }, "Group's answer: ",
      sp.h("span", { class: `tag decision-${accepted ? "confirmed" : "declined"}` }, accepted ? "Accepted" : "Declined"),
      c.group_response_reason ? ` — ${c.group_response_reason}` : "",
      c.group_responded_at ? sp.h("span", { class: "hint" }, ` (${sp.date(c.group_responded_at)})`) : "");
  }

  function renderConnections(r) {
    const open = r.status !== "closed";
    document.getElementById("no-connections").hidden = r.connections.length > 0;
    document.getElementById("connections").replaceChildren(
      ...r.connections.map((c) =>
        sp.h("li", { class: "card", "data-connection-id": c.id, "data-service-id": c.service_id },
          sp.h("h3", {}, c.service_name),
          sp.h("p", { class: "meta" },
            `${c.mode === "referral" ? "Referred" : "Signposted"} on ${sp.date(c.created_at)}`,
            c.was_proposed ? "" : " (chosen from the directory)"),
          c.mode === "referral" ? groupAnswer(c) : null,
          sp.h("p", {}, "Outcome: ", sp.h("strong", { class: "outcome" }, c.outcome ? outcomeWords(c.outcome) : "not recorded yet")),
          acts ? outcomeForm(c, open) : null,
        )),
    );
    const openActions = document.getElementById("open-actions");
    if (openActions) openActions.hidden = !open;
  }

  /** Once closed, what the practice is told: the plain-text summary, and the FHIR form. */
  async function renderGpMessage(r) {
    const section = document.getElementById("gp-message");
    if (r.status !== "closed" || !section.hidden) return;
    const answer = await sp.api("GET", `/referrals/${id}/gp-message`);
    if (!answer.ok) {
      document.getElementById("gp-message-text").textContent = `The message could not be loaded: ${answer.data?.detail}`;
      section.hidden = false;
      return;
    }
    const m = answer.data;
    document.getElementById("gp-message-code").textContent =
      `SNOMED CT ${m.code.code} ${m.code.display}${m.codes_only ? " · codes only: no consent to share details" : ""}`;
    document.getElementById("gp-message-text").textContent = m.text;
    document.getElementById("gp-message-fhir").textContent = JSON.stringify(m.fhir, null, 2);
    section.hidden = false;
  }

  // --- loading and acting ---------------------------------------------------------------

  async function load() {
    clearTimeout(timer);
    const answer = await sp.api("GET", `/referrals/${id}?purpose=${purpose}`);
    if (!answer.ok) {
      pageStatus.textContent = answer.status === 404 ? "There is no such referral that you can see." : `Could not load the referral: ${answer.data?.detail}`;
      return;
    }
    const r = answer.data;
    current = r;
    renderSummary(r);
    renderAbout(r);
    renderNeeds(r);
    renderProposals(r);
    renderConnections(r);
    renderGpMessage(r);
    document.getElementById("sections").hidden = false;
    pageStatus.textContent = "";
    root.dispatchEvent(new CustomEvent("referral-loaded", { detail: r }));
    if (r.status === "submitted" && r.proposals.length === 0) {
      if (++polls < POLL_LIMIT) timer = setTimeout(load, POLL_MS);
      else pageStatus.textContent = "Matching is taking longer than usual. Reload the page later.";
    }
  }

  /** Put the page's one message just after `where` (the form or card acted on) and
   *  move the focus to it, so it is read out and seen where the person is looking. */
  function say(text, kind, where) {
    const anchor = (typeof where === "function" ? where() : where) || document.getElementById("summary");
    anchor.after(message);
    sp.notify(message, text, kind);
    if (text) message.focus();
  }

  /** Send an action; on success reload and say so beside it, on failure show why next to
   *  the field (or beside the action). Returns the API's answer when it succeeded. */
  async function act(method, url, body, form, success, where = null) {
    sp.notify(message, "");
    // a link worker acting on a referral nobody has taken takes it: the server does that
    const answer = await sp.api(method, url, body);
    const place = where || form;
    if (answer.ok) {
      if (form) {
        sp.clearErrors(form);
        form.reset();
      }
      await load();
      say(success, "success", place);
      return answer.data;
    }
    const rest = form ? sp.showErrors(form, answer.data) : answer.data?.detail;
    if (rest) say(rest, "error", place);
    return null;
  }
  window.referralPage = { act, say };

  function wireForms() {
    const decline = document.getElementById("decline-form");
    decline?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const picked = [...document.querySelectorAll(".decline-pick:checked")].map((box) => box.value);
      const names = current.proposals.filter((p) => !p.decision && (!picked.length || picked.includes(p.service_id))).map((p) => p.service_name);
      const sure = await sp.confirm({
        title: `Decline ${names.length === 1 ? "this proposal" : `these ${names.length} proposals`}?`,
        lines: [sp.h("ul", {}, ...names.map((n) => sp.h("li", {}, n))), "They will no longer be offered to this person. This cannot be undone."],
        confirmLabel: "Yes, decline",
      });
      if (!sure) return;
      act("POST", `/referrals/${id}/decline`, { service_ids: picked.length ? picked : null, reason: decline.reason.value.trim() }, decline,
        picked.length ? `Declined ${picked.length} proposal${picked.length === 1 ? "" : "s"}.` : "Declined the undecided proposals.",
        () => document.getElementById("proposals"));
    });

    const close = document.getElementById("close-form");
    close?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const missing = unfinished(current);
      const sure = await sp.confirm({
        title: missing.length ? "This referral is not finished" : "Close this referral?",
        lines: missing.length
          ? [sp.h("ul", {}, ...missing.map((m) => sp.h("li", {}, m))), "The message to the GP will say so. Close it anyway?"]
          : ["The practice will be sent the message back. A closed referral cannot be reopened."],
        confirmLabel: missing.length ? "Close anyway" : "Yes, close it",
      });
      if (!sure) return;
      act("POST", `/referrals/${id}/close`, { reason: close.reason.value.trim() }, close, "The referral is closed.",
        () => document.getElementById("summary"));
    });

    const search = document.getElementById("search-form");
    search?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const searchStatus = document.getElementById("search-status");
      searchStatus.textContent = "Searching…";
      const answer = await sp.api("GET", `/directory/services?q=${encodeURIComponent(search.q.value.trim())}`);
      if (!answer.ok) {
        searchStatus.textContent = `The search did not work: ${answer.data?.detail}`;
        return;
      }
      searchStatus.textContent = answer.data.length ? `${answer.data.length} found` : "Nothing found. Try other words.";
      document.getElementById("search-results").replaceChildren(
        ...answer.data.map((s) =>
          sp.h("li", { class: "card" },
            sp.h("h3", {}, s.name),
            sp.h("p", { class: "meta" }, [s.organisation_name, s.categories.join(", "), s.ward, placesInWords(s)].filter(Boolean).join(" · ")),
            connectButtons(s.id, s.name, s.organisation_id))),
      );
    });
  }

  /** This week's places in words: a number only for those allowed to see it. */
  function placesInWords(s) {
    if (s.places_free !== null && s.places_free !== undefined) return `${s.places_free} places free this week`;
    return { full: "full this week", "waiting list": "waiting list only", "few places": "few places this week", "places available": "places available this week" }[s.availability] || null;
  }

  wireForms();
  root.addEventListener("referral-reload", () => load());
  load();
})();
