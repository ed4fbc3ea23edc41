// The audit log, searched by referral, user and dates: GET /admin/audit.
"use strict";

(() => {
  const form = document.getElementById("filters");
  const table = document.getElementById("entries");
  const status = document.getElementById("list-status");

  async function load() {
    const query = new URLSearchParams([...new FormData(form).entries()].filter(([, v]) => String(v).trim()));
    history.replaceState(null, "", `?${query}`);
    status.textContent = "Searching…";
    const answer = await sp.api("GET", `/admin/audit?${query}`);
    if (!answer.ok) {
      status.textContent = `The search did not work: ${answer.data?.detail || answer.status}`;
      return;
    }
    table.querySelector("tbody").replaceChildren(...answer.data.map((e) =>
      sp.h("tr", {},
        sp.h("td", {}, sp.date(e.at)),
        sp.h("td", {}, e.name || e.user_id, sp.h("div", { class: "hint" }, `${e.username || ""} · ${sp.words(e.role)}`)),
        sp.h("td", {}, sp.h("a", { href: `?referral_id=${encodeURIComponent(e.referral_id)}` }, e.referral_id.slice(0, 8))),
        sp.h("td", {}, sp.words(e.action)),
        sp.h("td", {}, e.purpose))));
    table.hidden = answer.data.length === 0;
    status.textContent = answer.data.length ? `${answer.data.length} entries, newest first` : "No entries match.";
  }

  const params = new URLSearchParams(window.location.search);
  for (const name of ["referral_id", "user", "since", "until"]) form[name].value = params.get(name) || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
})();
