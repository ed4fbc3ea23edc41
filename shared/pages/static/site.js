// Helpers every page uses: calling the JSON API, building DOM safely (text, never
// innerHTML with data), showing the API's field errors next to the fields.
"use strict";

const sp = (() => {
  const signIn = () => document.body.dataset.signIn || "/";

  /** Call the API on this origin with the sign-in cookie; never throws. */
  async function api(method, url, body, headers = {}) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
    const csrf = document.cookie.split("; ").find((c) => c.startsWith("sp_csrf="));
    if (method !== "GET" && csrf) init.headers["X-CSRF-Token"] = decodeURIComponent(csrf.slice(8));
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      return { ok: false, status: 0, data: { detail: "The service could not be reached. Check your connection and try again." } };
    }
    if (response.status === 401) {
      window.location.assign(signIn());
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: text };
    }
    return { ok: response.ok, status: response.status, data };
  }

  /** h("a", {href: "/x", class: "c"}, "text", child) — children are text or nodes. */
  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** The API's errors as [{field, reason}]; "field: reason" messages are split. */
  function fieldErrors(data) {
    if (!data) return [];
    const split = (field, reason) => {
      reason = String(reason).replace(/^Value error, /, "");
      const named = reason.match(/^([a-z_][a-z0-9_.]*): (.+)$/s);
      if (named && (field === "body" || field === named[1])) return { field: named[1], reason: named[2] };
      return { field, reason };
    };
    const clean = (field) => String(field).split(".").filter((part) => !/^\d+$/.test(part)).join(".");
    if (Array.isArray(data.errors)) return data.errors.map((e) => split(clean(e.field), e.reason));
    if (data.field) return [split(data.field, data.detail)];
    return [];
  }

  function clearErrors(form) {
    form.querySelectorAll(".has-error").forEach((wrap) => wrap.classList.remove("has-error"));
    form.querySelectorAll(".field-error").forEach((p) => {
      p.hidden = true;
      p.textContent = "";
    });
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  }

  /**
   * Show an API error answer on a form: each field error next to its field, and all of
   * them in `summary` (an .error-summary element) when given. Returns the message for
   * errors that belong to no field, for the caller to show.
   */
  function showErrors(form, data, summary) {
    clearErrors(form);
    const errors = fieldErrors(data);
    const items = [];
    const loose = [];
    for (const error of errors) {
      const wrap = form.querySelector(`[data-field="${CSS.escape(error.field)}"]`);
      if (!wrap) {
        loose.push(`${error.field}: ${error.reason}`);
        continue;
      }
      wrap.classList.add("has-error");
      const message = wrap.querySelector(".field-error");
      message.textContent = `Error: ${error.reason}`;
      message.hidden = false;
      const input = wrap.querySelector("input, textarea, select");
      if (input) input.setAttribute("aria-invalid", "true");
      items.push({ error, input });
    }
    const detail = (data && data.detail) || "Something went wrong. Please try again.";
    const leftover = errors.length === 0 ? detail : loose.join("; ");
    if (summary) {
      const list = summary.querySelector("ul");
      list.replaceChildren(
        ...items.map(({ error, input }) => {
          const label = (input && input.labels && input.labels[0]) ? input.labels[0].textContent.replace(" (optional)", "") : error.field;
          return h("li", {}, input ? h("a", { href: `#${input.id}` }, `${label}: ${error.reason}`) : error.reason);
        }),
        ...(leftover ? [h("li", {}, leftover)] : []),
      );
      summary.hidden = false;
      summary.focus();
      return "";
    }
    if (items.length && items[0].input) items[0].input.focus();
    return leftover;
  }

  /**
   * Show errors already written for people ([{field, message}], in the page's order):
   * each beside its field (the wrapper with that data-field), and all of them in
   * `summary` as links to their fields, which then takes the focus. The NHS design
   * system's pattern: "Error: Enter their first name" beside the field.
   */
  function showMessages(form, errors, summary) {
    clearErrors(form);
    const items = [];
    for (const { field, message } of errors) {
      const wrap = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
      const input = wrap ? wrap.querySelector("input:not([type=hidden]), textarea, select") : null;
      if (wrap) {
        wrap.classList.add("has-error");
        const text = wrap.querySelector(".field-error");
        if (text) {
          text.textContent = `Error: ${message}`;
          text.hidden = false;
        }
        wrap.querySelectorAll("input, textarea, select").forEach((el) => el.setAttribute("aria-invalid", "true"));
      }
      items.push(h("li", {}, input ? h("a", { href: `#${input.id}` }, message) : message));
    }
    if (summary) {
      summary.querySelector("ul").replaceChildren(...items);
      summary.hidden = errors.length === 0;
      if (errors.length) summary.focus();
    }
  }

  /** Show a message in a notice element (kind: "", "success" or "error"). */
  function notify(element, text, kind = "") {
    element.className = `notice ${kind}`.trim();
    element.textContent = text;
    element.hidden = !text;
  }

  function words(value) {
    return value === null || value === undefined || value === "" ? "—" : String(value).replaceAll("_", " ");
  }

  /** API times without a zone are UTC; dates alone are local calendar days. */
  function parse(iso) {
    if (iso.length === 10) return new Date(`${iso}T00:00:00`);
    return new Date(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`);
  }

  function date(iso) {
    if (!iso) return "—";
    const d = parse(iso);
    return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
  }

  /** "3 days", "5 hours", "12 minutes" since an ISO time. */
  function since(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - parse(iso).getTime()) / 60000));
    if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"}`;
    const hours = Math.round(minutes / 60);
    if (hours < 48) return `${hours} hour${hours === 1 ? "" : "s"}`;
    const days = Math.round(hours / 24);
    return `${days} days`;
  }

  const statusWords = () => JSON.parse(document.getElementById("status-words")?.textContent || "{}");

  function statusTag(status) {
    return h("span", { class: `tag tag-${status}` }, statusWords()[status] || words(status));
  }

  function urgencyTag(urgency) {
    return h("span", { class: `tag urgency-${urgency}` }, words(urgency));
  }

  /**
   * Ask before something that cannot be undone, in a modal <dialog>: `lines` say what
   * will happen and what is still missing. Resolves true only on the confirm button;
   * Escape or "Go back" resolve false, and focus returns to where it was.
   */
  function confirm({ title, lines = [], confirmLabel, cancelLabel = "Go back", warning = true }) {
    const opener = document.activeElement;
    return new Promise((resolve) => {
      const titleId = `confirm-title-${Date.now()}`;
      const yes = h("button", { type: "button", class: warning ? "warning" : null }, confirmLabel);
      const no = h("button", { type: "button", class: "secondary" }, cancelLabel);
      const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId },
        h("h2", { id: titleId }, title),
        ...lines.map((line) => (line instanceof Node ? line : h("p", {}, line))),
        h("div", { class: "actions" }, yes, no));
      const finish = (answer) => {
        dialog.close();
        dialog.remove();
        if (opener && opener.focus) opener.focus();
        resolve(answer);
      };
      yes.addEventListener("click", () => finish(true));
      no.addEventListener("click", () => finish(false));
      dialog.addEventListener("cancel", (event) => {
        event.preventDefault();
        finish(false);
      });
      document.body.append(dialog);
      dialog.showModal();
      no.focus();
    });
  }

  /**
   * Tables fit a phone: a table of records (class "stack") shows each row as a block of
   * "column: value" lines on a narrow screen, each cell labelled from its column's
   * header as rows arrive; any other table scrolls inside its own focusable region, so
   * the page itself never grows wider than the screen.
   */
  function fitTables() {
    for (const table of document.querySelectorAll("main table")) {
      if (table.classList.contains("stack")) {
        const label = () => {
          const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
          for (const tr of table.querySelectorAll("tbody tr")) {
            [...tr.children].forEach((cell, i) => { if (heads[i]) cell.dataset.label = heads[i]; });
          }
        };
        label();
        new MutationObserver(label).observe(table.tBodies[0] || table, { childList: true, subtree: true });
      } else if (!table.parentElement.classList.contains("table-scroll")) {
        const caption = table.caption?.textContent.trim();
        const wrap = h("div", { class: "table-scroll", role: "region", tabindex: "0" });
        if (table.getAttribute("aria-labelledby")) wrap.setAttribute("aria-labelledby", table.getAttribute("aria-labelledby"));
        else wrap.setAttribute("aria-label", caption || "Table");
        table.before(wrap);
        wrap.append(table);
      }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fitTables);
  else fitTables();

  return { api, h, showErrors, showMessages, clearErrors, notify, words, date, since, statusTag, urgencyTag, confirm };
})();
