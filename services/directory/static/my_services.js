// A group's own services: say in one click whether it has places left, keeps a waiting
// list or is full (POST /services/{id}/places), edit one (PUT /services/{id}, which needs
// the whole entry, so what the form does not show is kept from the loaded entry) or
// confirm it is still accurate (POST /services/{id}/confirm).
"use strict";

(() => {
  const root = document.getElementById("my-services");
  const organisation = root.dataset.organisation;
  const status = document.getElementById("list-status");
  const template = document.getElementById("service-template");

  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const number = (text) => (text.trim() === "" ? null : Number(text));
  const optional = (text) => (text.trim() === "" ? null : text.trim());

  const TAKING = {
    waiting_list: "waiting list only: offered after services with places",
    full: "full: not offered to link workers",
  };

  function places(s) {
    if (TAKING[s.taking]) return TAKING[s.taking];
    return s.capacity_per_week === null ? "no fixed number of places" : `${s.places_free} of ${s.capacity_per_week} places free this week`;
  }

  function facts(s) {
    return `${s.categories.join(", ")} · ${places(s)} · last confirmed ${sp.date(s.last_confirmed)}`;
  }

  /** Give every id in a cloned form a per-service prefix, keeping labels pointing right. */
  function uniqueIds(node, prefix) {
    node.querySelectorAll("[id]").forEach((el) => { el.id = `${prefix}-${el.id}`; });
    node.querySelectorAll("label[for]").forEach((el) => { el.htmlFor = `${prefix}-${el.htmlFor}`; });
    node.querySelectorAll("[aria-describedby]").forEach((el) => {
      el.setAttribute("aria-describedby", el.getAttribute("aria-describedby").split(" ").map((id) => `${prefix}-${id}`).join(" "));
    });
  }

  function fillForm(form, s) {
    const e = s.eligibility || {};
    const place = s.location || {};
    const values = {
      name: s.name, description: s.description, categories: s.categories.join(", "), keywords: (s.keywords || []).join(", "),
      schedule: s.schedule, capacity_per_week: s.capacity_per_week ?? "", cost: s.cost, referral_route: s.referral_route,
      languages: s.languages.join(", "), "location.address": place.address || "", "location.postcode": place.postcode || "",
      "location.ward": place.ward || "", "eligibility.min_age": e.min_age ?? "", "eligibility.max_age": e.max_age ?? "",
      "eligibility.notes": e.notes || "",
    };
    for (const [name, value] of Object.entries(values)) form.elements.namedItem(name).value = value;
    for (const name of ["delivery", "accessibility", "status"]) {
      const chosen = [].concat(s[name]);
      form.querySelectorAll(`input[name="${name}"]`).forEach((box) => { box.checked = chosen.includes(box.value); });
    }
  }

  function entry(form, s) {
    const data = new FormData(form);
    const place = s.location || {};
    return {
      name: data.get("name").trim(), description: data.get("description").trim(), categories: list(data.get("categories")),
      keywords: list(data.get("keywords")), schedule: data.get("schedule").trim(),
      regular_schedule: s.regular_schedule || [], capacity_per_week: number(data.get("capacity_per_week")),
      status: data.get("status") || "active", cost: data.get("cost").trim(), referral_route: data.get("referral_route"),
      languages: list(data.get("languages")), delivery: data.getAll("delivery"), accessibility: data.getAll("accessibility"),
      location: {
        address: data.get("location.address").trim(), postcode: optional(data.get("location.postcode")),
        ward: optional(data.get("location.ward")), lat: place.lat ?? null, lon: place.lon ?? null,
      },
      eligibility: {
        min_age: number(data.get("eligibility.min_age")), max_age: number(data.get("eligibility.max_age")),
        genders: s.eligibility?.genders ?? null, notes: data.get("eligibility.notes").trim(),
      },
    };
  }

  const ANSWERED = { running: "Thank you: marked as still running.", paused: "Marked as paused: link workers will not be offered it until you say it runs again.", closed: "Marked as closed: it is no longer offered." };

  /** The review question (when due) and people's open reports on the entry. */
  function showFreshness(item, s, notice, show) {
    const review = item.querySelector(".review");
    review.hidden = !s.review_due;
    item.querySelector(".review-question").textContent = `Is ${s.name} still running? Last confirmed ${sp.date(s.last_confirmed)}.`;
    const refresh = async (message) => {
      const fresh = await sp.api("GET", `/services/${encodeURIComponent(s.id)}`);
      if (fresh.ok) { show(fresh.data); showFreshness(item, fresh.data, notice, show); }
      sp.notify(notice, message, "success");
    };
    review.querySelectorAll(".review-answer").forEach((button) => {
      button.setAttribute("aria-label", `${s.name}: ${button.textContent}`);
      button.onclick = async () => {
        const answer = await sp.api("POST", `/services/${encodeURIComponent(s.id)}/review`, { answer: button.dataset.answer });
        if (!answer.ok) return sp.notify(notice, answer.data?.detail || "That did not work.", "error");
        refresh(ANSWERED[button.dataset.answer]);
      };
    });
    const reports = item.querySelector(".entry-reports");
    reports.hidden = !(s.reports || []).length;
    item.querySelector(".report-list").replaceChildren(...(s.reports || []).map((r) => {
      const resolve = sp.h("button", { type: "button", class: "secondary" }, "Dealt with");
      resolve.onclick = async () => {
        const answer = await sp.api("POST", `/entry-reports/${r.id}/resolve`, { resolution: "checked by the organisation" });
        if (!answer.ok) return sp.notify(notice, answer.data?.detail || "That did not work.", "error");
        refresh("Thank you: the report is resolved.");
      };
      return sp.h("li", { class: "report" }, `${r.kind === "closed" ? "Says it has closed" : "Says it is out of date"} (${sp.date(r.reported_at)}): ${r.note} `, resolve);
    }));
  }

  function serviceItem(s) {
    const item = template.content.firstElementChild.cloneNode(true);
    uniqueIds(item, s.id);
    const notice = item.querySelector(".notice");
    notice.tabIndex = -1;
    const form = item.querySelector(".edit-form");
    const show = (current) => {
      s = current;
      item.querySelector(".service-name").textContent = s.name;
      item.querySelector(".service-facts").textContent = facts(s);
      fillForm(form, s);
    };
    show(s);
    showFreshness(item, s, notice, show);

    // Places in one click: places left, waiting list or full; the number of places a
    // week beside "places left". Answers can be changed at any time.
    const placesForm = item.querySelector(".places-form");
    const placesInput = placesForm.elements.namedItem("capacity_per_week");
    const choices = item.querySelectorAll(".taking");
    const showPlaces = () => {
      choices.forEach((button) => {
        const chosen = button.dataset.taking === s.taking;
        button.setAttribute("aria-pressed", String(chosen));
        button.classList.toggle("secondary", !chosen);  // the chosen one is marked (site.css)
      });
      placesForm.hidden = s.taking !== "places_left";
      placesInput.value = s.capacity_per_week ?? "";
    };
    const savePlaces = async (body, form) => {
      sp.notify(notice, "");
      const answer = await sp.api("POST", `/services/${encodeURIComponent(s.id)}/places`, body);
      if (!answer.ok) {
        const rest = form ? sp.showErrors(form, answer.data) : answer.data?.detail;
        return sp.notify(notice, rest || "Enter the number of places, like 12, or leave it empty for no fixed number.", "error");
      }
      if (form) sp.clearErrors(form);
      show(answer.data);
      showPlaces();
      sp.notify(notice, `Saved: ${places(answer.data)}.`, "success");
      notice.focus();
    };
    choices.forEach((button) => {
      button.setAttribute("aria-label", `${s.name}: ${button.textContent}`);
      button.addEventListener("click", () => savePlaces({ taking: button.dataset.taking }, null));
    });
    placesForm.addEventListener("submit", (event) => {
      event.preventDefault();
      savePlaces({ taking: "places_left", capacity_per_week: number(placesInput.value) }, placesForm);
    });
    showPlaces();

    item.querySelector(".confirm").setAttribute("aria-label", `${s.name} is still accurate`);
    item.querySelector(".confirm").addEventListener("click", async () => {
      const answer = await sp.api("POST", `/services/${encodeURIComponent(s.id)}/confirm`);
      if (!answer.ok) return sp.notify(notice, answer.data?.detail || "That did not work.", "error");
      const fresh = await sp.api("GET", `/services/${encodeURIComponent(s.id)}`);
      if (fresh.ok) show(fresh.data);
      sp.notify(notice, "Thank you: marked as still accurate today.", "success");
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      sp.notify(notice, "");
      const answer = await sp.api("PUT", `/services/${encodeURIComponent(s.id)}`, entry(form, s));
      if (answer.ok) {
        sp.clearErrors(form);
        show(answer.data);
        sp.notify(notice, "Saved. Link workers see the change straight away.", "success");
        return;
      }
      const rest = sp.showErrors(form, answer.data);
      sp.notify(notice, rest || "Please correct the errors below.", "error");
    });
    return item;
  }

  async function load() {
    if (!organisation) {
      if (root.dataset.admin === "yes") {
        status.replaceChildren("Administrators have no services of their own: see ",
          sp.h("a", { href: "/admin/moderation" }, "moderation"), " for reported entries and reviews due, or ",
          sp.h("a", { href: "/" }, "browse the directory"), ".");
      } else status.textContent = "Your account is not linked to an organisation. Ask an administrator to link it.";
      return;
    }
    const answer = await sp.api("GET", `/services?organisation_id=${encodeURIComponent(organisation)}&limit=500`);
    if (!answer.ok) {
      status.textContent = `Could not load your services: ${answer.data?.detail || answer.status}`;
      return;
    }
    document.getElementById("services").replaceChildren(...answer.data.map(serviceItem));
    status.textContent = answer.data.length ? "" : "Your organisation has no services in the directory yet.";
  }

  load();
})();
