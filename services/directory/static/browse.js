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
    const places = s.capacity_per_week === null ? "" : `${s.places_free} of ${s.capacity_per_week} places free this week`;
    return sp.h("li", { class: "card" },
      sp.h("h2", { tabindex: "-1" }, s.name, s.status === "temporarily_closed" ? [" ", sp.h("span", { class: "tag urgency-soon" }, "Temporarily closed")] : null),
      sp.h("p", { class: "meta" }, [s.organisation_name, s.categories.join(", ")].filter(Boolean).join(" · ")),
      sp.h("p", {}, s.description),
      sp.h("dl", { class: "summary" },
        ...[["When", s.schedule], ["Where", place], ["How", s.delivery.map(sp.words).join(", ")], ["Cost", s.cost], ["Places", places], ["Checked", sp.date(s.last_confirmed)]]
          .filter(([, value]) => value)
          .flatMap(([term, value]) => [sp.h("dt", {}, term), sp.h("dd", {}, value)])),
    );
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
