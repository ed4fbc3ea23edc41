// Browse and search the directory through GET /services, 25 cards at a time.
"use strict";

(() => {
  const form = document.getElementById("search-form");
  const status = document.getElementById("search-status");
  const results = document.getElementById("results");
  const more = document.getElementById("show-more");
  const PAGE = 25;
  let found = [];

  function card(s) {
    const place = s.location ? [s.location.address, s.location.postcode, s.location.ward && `${s.location.ward} ward`].filter(Boolean).join(", ") : "";
    const places = s.capacity_per_week === null ? "" : s.places_free === null ? `${s.availability} this week` : `${s.places_free} of ${s.capacity_per_week} places free this week`;
    return sp.h("li", { class: "card" },
      sp.h("h2", { tabindex: "-1" }, s.name, s.status !== "active" ? [" ", sp.h("span", { class: "tag urgency-soon" }, STATUS[s.status] || sp.words(s.status))] : null),
      sp.h("p", { class: "meta" }, [s.organisation_name, s.categories.join(", ")].filter(Boolean).join(" · ")),
      sp.h("p", {}, s.description),
      sp.h("dl", { class: "summary" },
        ...[["When", s.schedule], ["Where", place], ["How", s.delivery.map(sp.words).join(", ")], ["Cost", s.cost], ["Places", places], ["Checked", sp.date(s.last_confirmed)]]
          .filter(([, value]) => value)
          .flatMap(([term, value]) => [sp.h("dt", {}, term), sp.h("dd", {}, value)])),
      reportsShown(s),
      reportForm(s),
    );
  }

  const STATUS = { temporarily_closed: "Temporarily closed", inactive: "Not running", defunct: "Closed" };

  /** People's open reports stay on the entry until the organisation deals with them. */
  function reportsShown(s) {
    if (!(s.reports || []).length) return null;
    return sp.h("div", { class: "notice error entry-reports" },
      sp.h("p", {}, `${s.reports.length === 1 ? "Someone has" : `${s.reports.length} people have`} said this entry may be wrong:`),
      sp.h("ul", {}, ...s.reports.map((r) => sp.h("li", {}, `${r.kind === "closed" ? "It has closed" : "It is out of date"} (${sp.date(r.reported_at)}): ${r.note}`))));
  }

  function reportForm(s) {
    const id = `report-${s.id}`;
    const notice = sp.h("div", { class: "notice", role: "status", "aria-live": "polite", hidden: true });
    const kind = sp.h("select", { id: `${id}-kind`, name: "kind" },
      sp.h("option", { value: "out_of_date" }, "Out of date"), sp.h("option", { value: "closed" }, "Closed"));
    const note = sp.h("textarea", { id: `${id}-note`, name: "note", rows: "2", maxlength: "1000" });
    const form = sp.h("form", { class: "report-form", novalidate: true },
      sp.h("div", { class: "field" }, sp.h("label", { for: `${id}-kind` }, "What is wrong"), kind),
      sp.h("div", { class: "field" }, sp.h("label", { for: `${id}-note` }, "What you know"), note),
      sp.h("button", { type: "submit" }, "Send report"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await sp.api("POST", `/services/${encodeURIComponent(s.id)}/reports`, { kind: kind.value, note: note.value.trim() });
      if (!answer.ok) return sp.notify(notice, answer.data?.detail || "That did not work.", "error");
      const thanks = "Thank you: the organisation and the directory's administrators have been told.";
      const fresh = await sp.api("GET", `/services/${encodeURIComponent(s.id)}`);
      if (!fresh.ok) return sp.notify(notice, thanks, "success");
      const next = card(fresh.data);
      form.closest("li.card").replaceWith(next);
      next.querySelector("details.report").open = true;
      sp.notify(next.querySelector("details.report .notice"), thanks, "success");
    });
    return sp.h("details", { class: "report" }, sp.h("summary", {}, `Report ${s.name} as out of date or closed`), notice, form);
  }

  function fill(listId, values) {
    const options = [...new Set(values.filter(Boolean))].sort();
    document.getElementById(listId).replaceChildren(...options.map((v) => sp.h("option", { value: v })));
  }

  async function search(first) {
    const query = new URLSearchParams({ limit: "500" });
    for (const name of ["q", "category", "ward"]) if (form[name].value.trim()) query.set(name, form[name].value.trim());
    status.textContent = "Searching…";
    const answer = await sp.api("GET", `/services?${query}`);
    if (!answer.ok) {
      status.textContent = `The search did not work: ${answer.data?.detail || answer.status}`;
      return;
    }
    if (first) {
      fill("categories", answer.data.flatMap((s) => s.categories));
      fill("wards", answer.data.map((s) => s.location?.ward));
    }
    found = answer.data;
    results.replaceChildren(...found.slice(0, PAGE).map(card));
    showMore();
    status.textContent = found.length ? `${found.length} service${found.length === 1 ? "" : "s"}` : "Nothing found. Try other words.";
  }

  function showMore() {
    const left = found.length - results.children.length;
    more.hidden = left <= 0;
    more.textContent = `Show ${Math.min(left, PAGE)} more of ${left}`;
  }

  more.addEventListener("click", () => {
    const first = results.children.length;
    results.append(...found.slice(first, first + PAGE).map(card));
    showMore();
    results.children[first]?.querySelector("h2")?.focus();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search(false);
  });
  search(true);
})();
