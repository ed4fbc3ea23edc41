// The referral form: checks everything at once and says what to fix in plain English
// (the NHS design system's error messages), then sends the referral to POST /referrals
// as JSON. The API's own errors are put into the same words by field. One idempotency
// key per filled-in form, so a double click or a retry never refers the same person
// twice.
"use strict";

(() => {
  const form = document.getElementById("referral-form");
  const summary = document.getElementById("error-summary");
  const key = window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;

  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const optional = (text) => (text.trim() === "" ? null : text.trim());
  const value = (name) => (form.elements.namedItem(name)?.value || "").trim();
  const chosen = (name) => new FormData(form).get(name);

  // --- the date of birth, from its three fields ------------------------------------------

  function birthDate() {
    const [day, month, year] = ["day", "month", "year"].map((part) => value(`birth_date.${part}`));
    if (!day && !month && !year) return { empty: true };
    if (![day, month, year].every((n) => /^\d+$/.test(n)) || year.length !== 4) return { invalid: true };
    const d = new Date(Number(year), Number(month) - 1, Number(day));
    if (d.getFullYear() !== Number(year) || d.getMonth() !== Number(month) - 1 || d.getDate() !== Number(day)) return { invalid: true };
    return { date: d, iso: `${year}-${month.padStart(2, "0")}-${day.padStart(2, "0")}` };
  }

  function age(d) {
    const now = new Date();
    const had = now.getMonth() > d.getMonth() || (now.getMonth() === d.getMonth() && now.getDate() >= d.getDate());
    return now.getFullYear() - d.getFullYear() - (had ? 0 : 1);
  }

  function nhsNumberValid(text) {
    const digits = text.replace(/[\s-]/g, "");
    if (!/^\d{10}$/.test(digits)) return false;
    const total = [...digits.slice(0, 9)].reduce((sum, d, i) => sum + Number(d) * (10 - i), 0);
    const check = (11 - (total % 11)) % 11;
    return check !== 10 && check === Number(digits[9]);
  }

  // --- what to fix, in the page's own words ------------------------------------------------

  /** Every problem a person can fix before sending, in the order of the form. */
  function problems() {
    const found = [];
    const add = (field, message) => found.push({ field, message });
    const contact = chosen("preferred_contact");
    if (!form.elements.namedItem("consent_to_refer").checked) add("consent_to_refer", "Confirm they agreed to be referred");
    if (!value("given_name")) add("given_name", "Enter their first name");
    if (!value("family_name")) add("family_name", "Enter their last name");
    if (!value("nhs_number")) add("nhs_number", "Enter their NHS number");
    else if (!nhsNumberValid(value("nhs_number"))) add("nhs_number", "Enter a valid 10-digit NHS number");
    const born = birthDate();
    if (born.empty) add("birth_date", "Enter their date of birth");
    else if (born.invalid) add("birth_date", "Date of birth must be a real date, like 15 3 1950");
    else if (born.date > new Date()) add("birth_date", "Date of birth must be in the past");
    else if (age(born.date) < 18) add("birth_date", "They must be 18 or over to be referred");
    if (!value("postcode")) add("postcode", "Enter their postcode");
    if ((contact === "phone" || contact === "text") && !value("phone")) add("phone", "Enter a phone number, or choose another way to contact them");
    if (contact === "email" && !value("email")) add("email", "Enter an email address, or choose another way to contact them");
    if (value("needs").length < 3) add("needs", "Describe their needs in a few words");
    return found;
  }

  const WORDS = {
    given_name: () => "Enter their first name",
    family_name: () => "Enter their last name",
    nhs_number: () => "Enter a valid 10-digit NHS number",
    birth_date: (reason) =>
      /18/.test(reason) ? "They must be 18 or over to be referred"
        : /future/.test(reason) ? "Date of birth must be in the past"
          : /would be|year/.test(reason) ? "Check the year they were born"
            : "Date of birth must be a real date, like 15 3 1950",
    postcode: () => "Enter a real postcode, like DA5 1GP",
    phone: (reason) => (/needed/.test(reason) ? "Enter a phone number, or choose another way to contact them" : "Enter a phone number, like 020 7946 0018"),
    email: (reason) => (/needed/.test(reason) ? "Enter an email address, or choose another way to contact them" : "Enter an email address in the correct format, like name@example.com"),
    needs: () => "Describe their needs in a few words",
    consent_to_refer: () => "Confirm they agreed to be referred",
    languages: () => "Enter the languages they speak, separated by commas",
  };

  /** The API's field errors in the page's words; anything unforeseen keeps its reason. */
  function fromApi(data) {
    const errors = Array.isArray(data?.errors) ? data.errors : data?.field ? [{ field: data.field, reason: data.detail }] : [];
    const worded = errors.map(({ field, reason }) => {
      const [name, rest] = String(reason).match(/^([a-z_]+): (.+)$/s)?.slice(1) || [String(field).split(".")[0], String(reason)];
      const top = name === "body" ? String(field).split(".")[0] : name;
      return { field: top, message: WORDS[top] ? WORDS[top](rest) : `Check this answer: ${rest}` };
    });
    return worded.length ? worded : [{ field: "", message: data?.detail || "Something went wrong. Try again." }];
  }

  // --- phone or email is needed for the chosen way of contact ----------------------------

  function markNeeded() {
    const contact = chosen("preferred_contact");
    const needed = { phone: contact === "phone" || contact === "text", email: contact === "email" };
    for (const [name, isNeeded] of Object.entries(needed)) {
      const input = form.elements.namedItem(name);
      const marker = form.querySelector(`label[for="${name}"] .optional`);
      input.required = isNeeded;
      if (marker) marker.textContent = isNeeded ? "" : "(optional)";
    }
  }

  // --- sending ---------------------------------------------------------------------------

  function referral() {
    const data = new FormData(form);
    return {
      given_name: value("given_name"),
      family_name: value("family_name"),
      nhs_number: value("nhs_number"),
      birth_date: birthDate().iso || null,
      gender: data.get("gender") || null,
      postcode: value("postcode"),
      phone: optional(value("phone")),
      email: optional(value("email")),
      preferred_contact: data.get("preferred_contact"),
      languages: list(value("languages")),
      accessibility_needs: data.getAll("accessibility_needs"),
      delivery_modes: data.getAll("delivery_modes"),
      needs: value("needs"),
      need_categories: data.getAll("need_categories"),
      urgency: data.get("urgency"),
      consent_to_refer: data.has("consent_to_refer"),
      consent_to_share: data.has("consent_to_share"),
    };
  }

  form.addEventListener("change", (event) => {
    if (event.target.name === "preferred_contact") markNeeded();
  });
  markNeeded();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const found = problems();
    if (found.length) {
      sp.showMessages(form, found, summary);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = await sp.api("POST", "/referrals", referral(), { "Idempotency-Key": key });
    button.disabled = false;
    if (answer.ok) {
      const kind = answer.data.duplicate ? "duplicate" : "submitted";
      window.location.assign(`/referrals?${kind}=${encodeURIComponent(answer.data.id)}`);
      return;
    }
    sp.showMessages(form, fromApi(answer.data), summary);
  });
})();
