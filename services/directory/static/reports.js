// Commissioners' reports: capacity against demand, and needs nobody could meet.
// Small counts come suppressed from the API and are shown as "fewer than N".
"use strict";

(() => {
  const status = document.getElementById("report-status");
  let threshold = 5;

  function count(c) {
    if (c && c.suppressed) return sp.h("span", { class: "suppressed" }, `fewer than ${threshold}`);
    if (c && typeof c === "object") return c.value ?? "—";
    return c ?? "—";
  }

  const num = (value) => sp.h("td", { class: "number" }, count(value));
  const fill = (id, rows) => document.querySelector(`#${id} tbody`).replaceChildren(...rows);
  const empty = (columns, text) => [sp.h("tr", {}, sp.h("td", { colspan: columns, class: "empty" }, text))];

  function capacity(report) {
    threshold = report.suppression_threshold;
    document.getElementById("week").textContent = `Week of ${sp.date(report.week.from)} to ${sp.date(report.week.to)}.`;
    const categories = report.categories.map((c) =>
      sp.h("tr", {},
        sp.h("th", { scope: "row" }, c.category, c.demand_over_capacity ? [" ", sp.h("span", { class: "tag urgency-urgent" }, "Demand over capacity")] : null),
        num(c.services), num(c.capacity_per_week), num(c.demand), num(c.places_taken), num(c.places_free), num(c.services_full)));
    fill("categories", categories.length ? categories : empty(7, "No services yet."));
    const services = report.services
      .slice()
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) =>
        sp.h("tr", {},
          sp.h("th", { scope: "row" }, s.name, sp.h("br"), sp.h("span", { class: "hint" }, s.organisation), s.full ? [" ", sp.h("span", { class: "tag urgency-urgent" }, "Full")] : null),
          sp.h("td", {}, sp.words(s.ward)),
          num(s.capacity_per_week), num(s.demand), num(s.places_taken), num(s.places_free)));
    fill("services", services.length ? services : empty(6, "No services yet."));
  }

  function unmet(report) {
    threshold = report.suppression_threshold;
    const rows = report.unmet_needs.map((n) =>
      sp.h("tr", {},
        sp.h("th", { scope: "row" }, sp.words(n.need)),
        num(n.referrals),
        sp.h("td", {}, sp.h("ul", { class: "plain" }, ...n.by_ward.map((w) => sp.h("li", {}, `${w.ward}: `, count(w.referrals))))),
        sp.h("td", {}, n.phrases.length ? n.phrases.join("; ") : sp.h("span", { class: "suppressed" }, "too few to show"))));
    fill("unmet", rows.length ? rows : empty(4, "No unmet needs recorded."));
  }

  async function load() {
    const [cap, needs] = await Promise.all([sp.api("GET", "/reports/capacity"), sp.api("GET", "/reports/unmet-needs")]);
    if (!cap.ok || !needs.ok) {
      status.textContent = `Could not load the reports: ${(cap.ok ? needs : cap).data?.detail}`;
      return;
    }
    capacity(cap.data);
    unmet(needs.data);
    status.textContent = "";
  }

  load();
})();
