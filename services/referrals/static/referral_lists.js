// The practice's referral list and the link workers' worklist: both read GET /referrals
// (the API scopes it to the caller's practice or team) and draw one table row each.
"use strict";

(() => {
  const table = document.getElementById("referral-list");
  const view = table.dataset.view;
  const status = document.getElementById("list-status");
  const URGENCY = { urgent: 0, soon: 1, routine: 2 };

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

  function worklistRow(r) {
    return sp.h("tr", {},
      sp.h("td", {},
        sp.h("a", { href: `/referrals/${encodeURIComponent(r.id)}` }, r.patient),
        r.flagged ? [" ", sp.h("span", { class: "tag urgency-urgent", title: r.flag_reason || "" }, "Flagged")] : null),
      sp.h("td", {}, sp.urgencyTag(r.urgency)),
      sp.h("td", {}, sp.words(r.ward)),
      sp.h("td", {}, sp.statusTag(r.status)),
      sp.h("td", {}, r.status === "closed" ? "—" : sp.since(r.created_at)),
    );
  }

  async function load(filters) {
    const query = new URLSearchParams({ limit: "500" });
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    status.textContent = "Loading…";
    const answer = await sp.api("GET", `/referrals?${query}`);
    if (!answer.ok) {
      status.textContent = `Could not load referrals: ${answer.data?.detail || answer.status}`;
      return;
    }
    let rows = answer.data;
    if (view === "practice") {
      rows = rows.slice().reverse();
    } else {
      if (!filters.status) rows = rows.filter((r) => r.status !== "closed");
      rows.sort((a, b) => URGENCY[a.urgency] - URGENCY[b.urgency] || a.created_at.localeCompare(b.created_at));
      const wards = [...new Set(answer.data.map((r) => r.ward).filter(Boolean))].sort();
      document.getElementById("wards").replaceChildren(...wards.map((w) => sp.h("option", { value: w })));
    }
    table.querySelector("tbody").replaceChildren(...rows.map(view === "practice" ? practiceRow : worklistRow));
    table.hidden = rows.length === 0;
    status.textContent = rows.length === 0 ? "No referrals to show." : `${rows.length} referral${rows.length === 1 ? "" : "s"}`;
  }

  const params = new URLSearchParams(window.location.search);
  for (const kind of ["submitted", "duplicate"]) {
    if (view === "practice" && params.get(kind)) document.getElementById(kind).hidden = false;
  }
  if (params.get("duplicate")) document.getElementById("duplicate-link").href = `/referrals/${encodeURIComponent(params.get("duplicate"))}`;
  const filters = document.getElementById("filters");
  if (filters) {
    filters.status.value = params.get("status") || "";
    filters.ward.value = params.get("ward") || "";
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = { status: filters.status.value, ward: filters.ward.value.trim() };
      const query = new URLSearchParams(Object.entries(chosen).filter(([, v]) => v));
      history.replaceState(null, "", `?${query}`);
      load(chosen);
    });
  }
  load({ status: params.get("status") || "", ward: params.get("ward") || "" });
})();
