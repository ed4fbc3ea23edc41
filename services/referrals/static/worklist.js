// The link workers' worklist: GET /worklist (the team's referrals, flagged first, then
// most urgent, then longest waiting; searched by name or NHS number on the server, "mine
// only" here) and, above it, GET /caseload (each link worker's load against the
// guidance of 200-250 people a year).
"use strict";

(() => {
  const root = document.getElementById("worklist");
  const me = root.dataset.me;
  const table = document.getElementById("referral-list");
  const status = document.getElementById("list-status");
  const names = new Map();
  let caseloadLoaded = null;

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  // --- caseload --------------------------------------------------------------------------

  async function loadCaseload() {
    const caseloadStatus = document.getElementById("caseload-status");
    const answer = await sp.api("GET", "/caseload");
    if (!answer.ok) {
      caseloadStatus.textContent = `Could not load caseloads: ${answer.data?.detail || answer.status}`;
      return;
    }
    const [low, high] = answer.data.annual_guidance;
    const workers = answer.data.link_workers;
    for (const w of workers) names.set(w.id, w.name);
    const mine = workers.find((w) => w.id === me);
    caseloadStatus.textContent = mine ? "" : "You have no caseload of your own.";
    if (mine) {
      document.getElementById("my-caseload").replaceChildren(
        sp.h("dt", {}, "Active referrals"), sp.h("dd", {}, String(mine.active_referrals)),
        sp.h("dt", {}, "Connections awaiting an outcome"), sp.h("dd", {}, String(mine.open_connections)),
        sp.h("dt", {}, "People this year"),
        sp.h("dd", {}, sp.h("strong", {}, String(mine.people_this_year)),
          ` against the guidance of ${low}–${high} people a year for a full-time link worker`,
          mine.over_guidance ? [" ", sp.h("span", { class: "tag urgency-urgent" }, "Over the guidance")] : null),
      );
    }
    document.getElementById("team-caseloads").hidden = workers.length === 0;
    document.querySelector("#team-caseloads tbody").replaceChildren(
      ...workers.map((w) =>
        sp.h("tr", {},
          sp.h("td", {}, w.name, w.id === me ? " (you)" : ""),
          sp.h("td", { class: "number" }, String(w.active_referrals)),
          sp.h("td", { class: "number" }, String(w.open_connections)),
          sp.h("td", { class: "number" }, `${w.people_this_year} of ${low}–${high}`, w.over_guidance ? " (over)" : ""))),
    );
  }

  // --- the worklist ------------------------------------------------------------------------

  function worklistRow(r) {
    const person = sp.h("a", { href: `/referrals/${encodeURIComponent(r.id)}` }, r.patient);
    const flag = r.flagged
      ? sp.h("div", { class: "flag" }, sp.h("span", { class: "tag urgency-urgent" }, "Flagged"), " ", r.flag_reason || "")
      : null;
    const worker = r.assigned_to ? (r.assigned_to === me ? "You" : names.get(r.assigned_to) || "Another link worker") : sp.h("span", { class: "empty" }, "Nobody yet");
    return sp.h("tr", { class: r.flagged ? "flagged" : null },
      sp.h("td", {}, person, flag, r.needs_snippet ? sp.h("div", { class: "needs-snippet" }, r.needs_snippet) : null),
      sp.h("td", {}, sp.urgencyTag(r.urgency)),
      sp.h("td", { class: "number" }, r.status === "closed" ? "—" : plural(r.waiting_days, "day")),
      sp.h("td", {}, sp.words(r.ward)),
      sp.h("td", {}, r.practice_ods || "—"),
      sp.h("td", {}, sp.statusTag(r.status)),
      sp.h("td", {}, worker),
    );
  }

  async function load(filters) {
    const query = new URLSearchParams(Object.entries(filters).filter(([k, v]) => v && k !== "mine"));
    status.textContent = "Loading…";
    const [answer] = await Promise.all([sp.api("GET", `/worklist?${query}`), caseloadLoaded]);
    if (!answer.ok) {
      status.textContent = `Could not load the worklist: ${answer.data?.detail || answer.status}`;
      return;
    }
    const rows = filters.mine ? answer.data.filter((r) => r.assigned_to === me) : answer.data;
    const wards = [...new Set(rows.map((r) => r.ward).filter(Boolean))].sort();
    if (!filters.ward) document.getElementById("wards").replaceChildren(...wards.map((w) => sp.h("option", { value: w })));
    table.querySelector("tbody").replaceChildren(...rows.map(worklistRow));
    table.hidden = rows.length === 0;
    const flagged = rows.filter((r) => r.flagged).length;
    status.textContent = rows.length === 0 ? "No referrals to show." : `${plural(rows.length, "referral")}${flagged ? `, ${flagged} flagged` : ""}`;
  }

  caseloadLoaded = loadCaseload();
  const params = new URLSearchParams(window.location.search);
  const filters = document.getElementById("filters");
  const chosen = () => ({
    q: filters.q.value.trim(),
    status: filters.status.value,
    ward: filters.ward.value.trim(),
    mine: filters.mine.checked ? "yes" : "",
  });
  filters.q.value = params.get("q") || "";
  filters.status.value = params.get("status") || "";
  filters.ward.value = params.get("ward") || "";
  filters.mine.checked = params.get("mine") === "yes";
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams(Object.entries(chosen()).filter(([, v]) => v));
    history.replaceState(null, "", `?${query}`);
    load(chosen());
  });
  filters.mine.addEventListener("change", () => filters.requestSubmit());
  load(chosen());
})();
