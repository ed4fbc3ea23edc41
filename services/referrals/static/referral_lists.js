// The practice's referral list: GET /referrals (the API scopes it to the caller's
// practice), newest first, one table row each. The link workers' worklist is worklist.js.
"use strict";

(() => {
  const table = document.getElementById("referral-list");
  const status = document.getElementById("list-status");

  function practiceRow(r) {
    return sp.h("tr", {},
      sp.h("td", {}, sp.h("a", { href: `/referrals/${encodeURIComponent(r.id)}` }, r.patient)),
      sp.h("td", {}, sp.date(r.created_at)),
      sp.h("td", {}, sp.urgencyTag(r.urgency)),
      sp.h("td", {}, sp.statusTag(r.status), ...whatBecame(r)),
    );
  }

  /** What became of a referral, in the list's words (fields the API may add). */
  function whatBecame(r) {
    const lines = [];
    if (r.connected_to && r.connected_to.length) lines.push(`Connected to ${r.connected_to.join(", ")}`);
    if (r.outcome) lines.push(`Outcome: ${sp.words(r.outcome)}`);
    if (r.closed_reason) lines.push(`Closed: ${r.closed_reason}`);
    return lines.map((line) => sp.h("div", { class: "hint" }, line));
  }

  async function load() {
    const query = new URLSearchParams({ limit: "500" });
    status.textContent = "Loading…";
    const answer = await sp.api("GET", `/referrals?${query}`);
    if (!answer.ok) {
      status.textContent = `Could not load referrals: ${answer.data?.detail || answer.status}`;
      return;
    }
    const rows = answer.data.slice().sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
    table.querySelector("tbody").replaceChildren(...rows.map(practiceRow));
    table.hidden = rows.length === 0;
    status.textContent = rows.length === 0 ? "No referrals to show." : `${rows.length} referral${rows.length === 1 ? "" : "s"}`;
  }

  const params = new URLSearchParams(window.location.search);
  for (const kind of ["submitted", "duplicate"]) {
    if (params.get(kind)) document.getElementById(kind).hidden = false;
  }
  if (params.get("duplicate")) document.getElementById("duplicate-link").href = `/referrals/${encodeURIComponent(params.get("duplicate"))}`;
  load();
})();
