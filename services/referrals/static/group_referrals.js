// A community group's incoming referrals: GET /group/referrals (referral-mode
// connections to the caller's organisation's services), one row each.
"use strict";

(() => {
  const table = document.getElementById("group-referrals");
  const status = document.getElementById("list-status");

  function answerTag(line) {
    if (!line.response) return sp.h("span", { class: "tag tag-submitted" }, "Waiting for your answer");
    const accepted = line.response === "accepted";
    return sp.h("span", { class: `tag decision-${accepted ? "confirmed" : "declined"}` }, accepted ? "Accepted" : "Declined");
  }

  function row(line) {
    return sp.h("tr", {},
      sp.h("td", {}, sp.h("a", { href: `/group/connections/${encodeURIComponent(line.connection_id)}` }, `Referral for ${line.person}`)),
      sp.h("td", {}, line.service_name),
      sp.h("td", {}, sp.date(line.referred_at)),
      sp.h("td", {}, answerTag(line), line.response_reason ? sp.h("div", { class: "hint" }, line.response_reason) : null),
      sp.h("td", {}, line.outcome ? sp.words(line.outcome) : "—"),
    );
  }

  async function load() {
    const answer = await sp.api("GET", "/group/referrals");
    if (!answer.ok) {
      status.textContent = `Could not load referrals: ${answer.data?.detail || answer.status}`;
      return;
    }
    const lines = answer.data;
    table.querySelector("tbody").replaceChildren(...lines.map(row));
    table.hidden = lines.length === 0;
    const waiting = lines.filter((l) => !l.response).length;
    status.textContent = lines.length === 0
      ? "No referrals to your services yet."
      : `${lines.length} referral${lines.length === 1 ? "" : "s"}, ${waiting} waiting for your answer`;
  }

  load();
})();
