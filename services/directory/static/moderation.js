// Administrators' moderation: open reports on entries (GET /entry-reports, resolved with
// POST /entry-reports/{id}/resolve) and entries whose review is due (GET /reviews-due).
"use strict";

(() => {
  const message = document.getElementById("message");

  async function fill(url, tableId, statusId, row, none) {
    const status = document.getElementById(statusId);
    const table = document.getElementById(tableId);
    const answer = await sp.api("GET", url);
    if (!answer.ok) {
      status.textContent = `Could not load: ${answer.data?.detail || answer.status}`;
      return;
    }
    table.querySelector("tbody").replaceChildren(...answer.data.map(row));
    table.hidden = answer.data.length === 0;
    status.textContent = answer.data.length ? `${answer.data.length} to look at` : none;
  }

  function reportRow(r) {
    const resolve = sp.h("button", { type: "button", class: "secondary", "aria-label": `Resolve the report on ${r.service_name}` }, "Resolve");
    resolve.addEventListener("click", async () => {
      const answer = await sp.api("POST", `/entry-reports/${r.id}/resolve`, { resolution: "entry checked" });
      await loadReports();
      sp.notify(message, answer.ok ? `The report on ${r.service_name} is resolved.` : answer.data?.detail, answer.ok ? "success" : "error");
      message.focus();
    });
    return sp.h("tr", {},
      sp.h("td", {}, r.service_name),
      sp.h("td", {}, sp.words(r.kind), r.note ? sp.h("div", { class: "hint" }, r.note) : null),
      sp.h("td", {}, sp.date(r.reported_at)),
      sp.h("td", {}, resolve));
  }

  const reviewRow = (r) => sp.h("tr", {},
    sp.h("td", {}, r.name), sp.h("td", {}, sp.words(r.status)), sp.h("td", {}, sp.date(r.assured_date)), sp.h("td", {}, sp.date(r.due_on)));

  const loadReports = () => fill("/entry-reports", "reports", "reports-status", reportRow, "No open reports.");
  loadReports();
  fill("/reviews-due", "reviews", "reviews-status", reviewRow, "No reviews due.");
})();
