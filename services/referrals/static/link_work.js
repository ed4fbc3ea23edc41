// The link worker's own sections of a referral: taking it on, logging attempts to reach
// the person (three failures flag it on the worklist), and wellbeing at first contact
// and at follow-up with the change. Drawn on each "referral-loaded" from referral.js;
// after a change it asks referral.js to load the referral again ("referral-reload").
"use strict";

(() => {
  const root = document.getElementById("referral");
  const id = encodeURIComponent(root.dataset.id);
  const me = root.dataset.me;
  const names = new Map(); // link worker id -> name, from the team's caseload
  let namesLoaded = null;

  const today = () => new Date().toLocaleDateString("en-CA"); // YYYY-MM-DD, local day
  const nameOf = (userId) => (userId === me ? "you" : names.get(userId) || "another link worker");

  function loadNames() {
    namesLoaded ??= sp.api("GET", "/caseload").then((answer) => {
      for (const w of answer.ok ? answer.data.link_workers : []) names.set(w.id, w.name);
    });
    return namesLoaded;
  }

  /** Send a change through referral.js (which takes the referral first if nobody has,
   *  reloads it, and says how it went beside `where`). */
  const send = (url, body, form, success, where) => window.referralPage.act("POST", url, body, form, success, where);

  // --- who is working on it --------------------------------------------------------------

  function renderAssignment(r) {
    const open = r.status !== "closed";
    const text = document.getElementById("assigned-to");
    if (!r.assigned_to) text.textContent = "Nobody has taken this referral yet.";
    else text.replaceChildren("Assigned to ", sp.h("strong", {}, r.assigned_to === me ? `${names.get(me) || "you"} (you)` : nameOf(r.assigned_to)),
      r.assigned_at ? ` since ${sp.date(r.assigned_at)}` : "");
    document.getElementById("take-referral").hidden = !open || r.assigned_to === me;
  }

  // --- contact attempts ----------------------------------------------------------------

  function renderContact(r) {
    const attempts = r.contact_attempts || [];
    const flag = document.getElementById("contact-flag");
    flag.hidden = !r.flagged;
    flag.replaceChildren(sp.h("strong", {}, "Flagged: "), r.flag_reason || "needs attention");
    document.getElementById("no-attempts").hidden = attempts.length > 0;
    const table = document.getElementById("attempts");
    table.hidden = attempts.length === 0;
    const resultWords = optionWords("contact-result");
    const methodWords = optionWords("contact-method");
    table.querySelector("tbody").replaceChildren(
      ...attempts.map((a) =>
        sp.h("tr", {},
          sp.h("td", {}, sp.date(a.attempted_on)),
          sp.h("td", {}, methodWords[a.method] || sp.words(a.method)),
          sp.h("td", {}, resultWords[a.result] || sp.words(a.result)),
          sp.h("td", {}, nameOf(a.by)))),
    );
    const form = document.getElementById("contact-form");
    form.hidden = r.status === "closed";
    const date = form.elements.namedItem("date");
    date.max = today();
    if (!date.value) date.value = today();
  }

  function optionWords(selectId) {
    return Object.fromEntries([...document.getElementById(selectId).options].map((o) => [o.value, o.textContent]));
  }

  // --- wellbeing -------------------------------------------------------------------------

  const signed = (n, digits = 0) => (n > 0 ? "+" : n < 0 ? "−" : "±") + Math.abs(n).toFixed(digits);

  function changeCell(cell, c, digits = 0) {
    if (!c) return cell.replaceChildren("—");
    const better = c.lower_is_better ? c.difference < 0 : c.difference > 0;
    const verdict = c.difference === 0 ? "no change" : better ? "better" : "worse";
    cell.replaceChildren(sp.h("span", { class: `verdict-${verdict.replace(" ", "-")}` }, `${signed(c.difference, digits)} (${verdict})`));
  }

  function renderWellbeing(w, open) {
    const table = document.getElementById("wellbeing-scores");
    const first = w.first_contact;
    const followUp = w.follow_up;
    document.getElementById("no-wellbeing").hidden = Boolean(first);
    table.hidden = !first;
    const show = (v, digits = 0) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
    for (const row of table.querySelectorAll("tbody tr")) {
      const item = row.dataset.item;
      const swemwbs = item === "swemwbs";
      const value = (record) => (!record ? null : swemwbs ? record.swemwbs_metric : record.ons4[item]);
      row.querySelector(".first").textContent = show(value(first), swemwbs ? 2 : 0);
      row.querySelector(".follow-up").textContent = show(value(followUp), swemwbs ? 2 : 0);
      const change = w.change && (swemwbs ? w.change.swemwbs_metric : w.change.ons4[item]);
      changeCell(row.querySelector(".change"), change, swemwbs ? 2 : 0);
    }

    const form = document.getElementById("wellbeing-form");
    const stage = !first ? "first_contact" : !followUp ? "follow_up" : null;
    form.hidden = !open || stage === null;
    if (stage && form.stage.value !== stage) {
      form.reset();
      sp.clearErrors(form);
      form.stage.value = stage;
    }
    document.getElementById("wellbeing-form-heading").textContent =
      `Record wellbeing at ${stage === "follow_up" ? "follow-up" : "first contact"}`;
  }

  async function loadWellbeing(open) {
    const answer = await sp.api("GET", `/referrals/${id}/wellbeing`);
    if (answer.ok) renderWellbeing(answer.data, open);
  }

  function wellbeingAnswers(form) {
    const data = new FormData(form);
    const ons4 = {};
    for (const [name, value] of data.entries()) {
      if (name.startsWith("ons4.")) ons4[name.slice(5)] = Number(value);
    }
    const items = [...Array(7).keys()].map((i) => (data.get(`swemwbs.${i}`) === null ? null : Number(data.get(`swemwbs.${i}`))));
    const swemwbs = items.every((v) => v === null) ? null : items;
    return { stage: data.get("stage"), ons4, swemwbs };
  }

  // --- wiring ----------------------------------------------------------------------------

  document.getElementById("take-referral").addEventListener("click", () =>
    send(`/referrals/${id}/assign`, {}, null, "You have taken this referral.", () => document.getElementById("assigned-to")));

  const contactForm = document.getElementById("contact-form");
  contactForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const field = (name) => contactForm.elements.namedItem(name).value;
    const body = { date: field("date") || null, method: field("method"), result: field("result") };
    const words = optionWords("contact-result")[body.result];
    send(`/referrals/${id}/contact-attempts`, body, contactForm, `Contact attempt logged: ${words}.`, () => contactForm);
  });

  const wellbeingForm = document.getElementById("wellbeing-form");
  /** Every unanswered question, by name: the four ONS questions, and the SWEMWBS
   *  statements once any of them is answered (all seven or none). */
  function missingAnswers(form, body) {
    const missing = [];
    for (const fieldset of form.querySelectorAll('fieldset[data-field^="ons4."]')) {
      const item = fieldset.dataset.field.slice(5);
      if (body.ons4[item] === undefined) missing.push({ field: fieldset.dataset.field, message: `Answer “${fieldset.querySelector("legend").textContent.trim()}”` });
    }
    if (body.swemwbs) {
      body.swemwbs.forEach((answer, i) => {
        if (answer !== null) return;
        const statement = form.querySelector(`fieldset[data-field="swemwbs.${i}"] legend`).textContent.trim();
        missing.push({ field: `swemwbs.${i}`, message: `Answer “${statement}”, or clear the SWEMWBS` });
      });
    }
    return missing;
  }

  wellbeingForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = wellbeingAnswers(wellbeingForm);
    const stage = body.stage === "follow_up" ? "follow-up" : "first contact";
    const missing = missingAnswers(wellbeingForm, body);
    const summary = document.getElementById("wellbeing-errors");
    if (missing.length) {
      if (body.swemwbs) document.getElementById("swemwbs-details").open = true;
      sp.showMessages(wellbeingForm, missing, summary);
      return;
    }
    summary.hidden = true;
    const saved = await send(`/referrals/${id}/wellbeing`, body, wellbeingForm, `Wellbeing at ${stage} recorded.`, () => document.getElementById("wellbeing-heading"));
    if (!saved && wellbeingForm.querySelector('[data-field="swemwbs"].has-error')) {
      document.getElementById("swemwbs-details").open = true;
    }
  });

  root.addEventListener("referral-loaded", async (event) => {
    const r = event.detail;
    await loadNames();
    renderAssignment(r);
    renderContact(r);
    await loadWellbeing(r.status !== "closed");
  });
})();
