// Administrators' accounts page: GET /admin/users, add one (POST /admin/users),
// deactivate one or reset its password (both end its sessions at once).
"use strict";

(() => {
  const table = document.getElementById("users");
  const status = document.getElementById("list-status");
  const message = document.getElementById("message");
  const form = document.getElementById("user-form");
  const ROLE = { practice_staff: "GP practice staff", link_worker: "Link worker", group_member: "Group member", commissioner: "Commissioner", admin: "Administrator" };

  const say = (text, kind) => {
    sp.notify(message, text, kind);
    message.focus();
  };

  function row(u) {
    const scope = u.practice_ods || u.team || u.organisation_id;
    const deactivate = sp.h("button", { type: "button", class: "warning", "aria-label": `Deactivate ${u.username}` }, "Deactivate");
    const reset = sp.h("button", { type: "button", class: "secondary", "aria-label": `Reset the password of ${u.username}` }, "Reset password");
    deactivate.addEventListener("click", async () => {
      const sure = await sp.confirm({ title: `Deactivate ${u.name}?`, lines: ["They are signed out at once and can no longer sign in."], confirmLabel: "Yes, deactivate" });
      if (!sure) return;
      const answer = await sp.api("POST", `/admin/users/${encodeURIComponent(u.username)}/deactivate`);
      await load();
      say(answer.ok ? `${u.name} is deactivated.` : answer.data?.detail, answer.ok ? "success" : "error");
    });
    reset.addEventListener("click", async () => {
      const password = Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => "abcdefghjkmnpqrstuvwxyz23456789"[b % 31]).join("");
      const answer = await sp.api("POST", `/admin/users/${encodeURIComponent(u.username)}/password`, { password });
      say(answer.ok ? `New password for ${u.username}: ${password} (give it to them in person; their sessions have ended).` : answer.data?.detail, answer.ok ? "success" : "error");
    });
    return sp.h("tr", {},
      sp.h("td", {}, sp.h("strong", {}, u.name), sp.h("div", { class: "hint" }, u.username)),
      sp.h("td", {}, ROLE[u.role] || u.role, scope ? sp.h("div", { class: "hint" }, scope) : null),
      sp.h("td", {}, u.active ? "Active" : sp.h("span", { class: "tag tag-closed" }, "Deactivated")),
      sp.h("td", {}, u.active ? sp.h("div", { class: "actions" }, reset, deactivate) : "—"),
    );
  }

  async function load() {
    const answer = await sp.api("GET", "/admin/users");
    if (!answer.ok) {
      status.textContent = `Could not load users: ${answer.data?.detail || answer.status}`;
      return;
    }
    table.querySelector("tbody").replaceChildren(...answer.data.map(row));
    table.hidden = answer.data.length === 0;
    status.textContent = `${answer.data.length} users, ${answer.data.filter((u) => u.active).length} active`;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim() || null]));
    const answer = await sp.api("POST", "/admin/users", body);
    if (!answer.ok) {
      const rest = sp.showErrors(form, answer.data);
      if (rest) say(rest, "error");
      return;
    }
    sp.clearErrors(form);
    form.reset();
    await load();
    say(`${answer.data.name} can now sign in as ${answer.data.username}.`, "success");
  });
  load();
})();
