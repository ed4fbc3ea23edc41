// The practice's referral list: GET /referrals (the API scopes it to the caller's
// practice), newest first, one table row each; referrals whose message back is ready
// and nobody at the practice has read yet (GET /gp-messages) are marked. After sending
// a referral the confirmation names the person and says when they will be contacted.
// The link workers' worklist is worklist.js.
"use strict";

(() => {
  const table = document.getElementById("referral-list");
  const status = document.getElementById("list-status");
  const within = JSON.parse(document.getElementById("contact-within").textContent);
  const params = new URLSearchParams(window.location.search);

  function practiceRow(r, unread) {
    const isNew = unread.has(r.id);
    return sp.h("tr", { class: isNew ? "unread" : null },
      sp.h("td", {}, sp.h("a", { href: `/referrals/${encodeURIComponent(r.id)}` }, r.patient),
        isNew ? sp.h("div", {}, sp.h("span", { class: "tag tag-new" }, "New message back")) : null),
      sp.h("td", {}, sp.date(r.created_at)),
      sp.h("td", {}, sp.urgencyTag(r.urgency)),
      sp.h("td", {}, sp.statusTag(r.status), ...whatBecame(r)),
    );
  }

  /** What became of a referral, in the list's words (fields the API may add). */
  function whatBecame(r) {
    const lines = [];
    if (r.connected_to && r.connected_to.length) lines.push(`Connected to ${r.connected_to.join(", ")}`);
    if (r.outcome) lines.push(`Outcome: ${sp.words(r.outcome)}`);
    if (r.closed_reason) lines.push(`Closed: ${r.closed_reason}`);
    return lines.map((line) => sp.h("div", { class: "hint" }, line));
  }

  function confirmSubmitted(rows) {
    const id = params.get("submitted");
    const r = id && rows.find((row) => row.id === id);
    if (!r) return;
    const notice = document.getElementById("submitted");
    document.getElementById("submitted-heading").textContent = `Referral sent for ${r.patient}`;
    document.getElementById("submitted-next").textContent =
      `What happens next: a link worker will contact ${r.patient} ${within[r.urgency] || "soon"} ` +
      "to talk about what matters to them and find groups that fit.";
    notice.hidden = false;
    notice.focus();
  }

  async function load() {
    const query = new URLSearchParams({ limit: "500" });
    status.textContent = "Loading…";
    const [answer, messages] = await Promise.all([
      sp.api("GET", `/referrals?${query}`),
      sp.api("GET", "/gp-messages?unread_only=true"),
    ]);
    if (!answer.ok) {
      status.textContent = `Could not load referrals: ${answer.data?.detail || answer.status}`;
      return;
    }
    const unread = new Set(messages.ok ? messages.data.map((m) => m.referral_id) : []);
    const rows = answer.data.slice().sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
    table.querySelector("tbody").replaceChildren(...rows.map((r) => practiceRow(r, unread)));
    table.hidden = rows.length === 0;
    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    const news = rows.filter((r) => unread.has(r.id)).length;
    status.textContent = rows.length === 0 ? "No referrals to show." : `${plural(rows.length, "referral")}${news ? `, ${plural(news, "new message")} back` : ""}`;
    confirmSubmitted(rows);
  }

  if (params.get("duplicate")) {
    document.getElementById("duplicate").hidden = false;
    document.getElementById("duplicate-link").href = `/referrals/${encodeURIComponent(params.get("duplicate"))}`;
  }
  load();
})();
