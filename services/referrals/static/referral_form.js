// The referral form: sends the referral to POST /referrals as JSON and shows the API's
// field errors next to the fields. One idempotency key per filled-in form, so a double
// click or a retry never refers the same person twice.
"use strict";

(() => {
  const form = document.getElementById("referral-form");
  const summary = document.getElementById("error-summary");
  const key = window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;

  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const optional = (text) => (text.trim() === "" ? null : text.trim());

  function referral() {
    const data = new FormData(form);
    return {
      given_name: data.get("given_name").trim(),
      family_name: data.get("family_name").trim(),
      nhs_number: data.get("nhs_number").trim(),
      birth_date: data.get("birth_date") || null,
      gender: data.get("gender") || null,
      postcode: data.get("postcode").trim(),
      phone: optional(data.get("phone")),
      email: optional(data.get("email")),
      preferred_contact: data.get("preferred_contact"),
      languages: list(data.get("languages")),
      accessibility_needs: data.getAll("accessibility_needs"),
      delivery_modes: data.getAll("delivery_modes"),
      needs: data.get("needs").trim(),
      need_categories: data.getAll("need_categories"),
      urgency: data.get("urgency"),
      consent_to_refer: data.has("consent_to_refer"),
      consent_to_share: data.has("consent_to_share"),
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = await sp.api("POST", "/referrals", referral(), { "Idempotency-Key": key });
    button.disabled = false;
    if (answer.ok) {
      const kind = answer.data.duplicate ? "duplicate" : "submitted";
      window.location.assign(`/referrals?${kind}=${encodeURIComponent(answer.data.id)}`);
      return;
    }
    sp.showErrors(form, answer.data, summary);
  });
})();
