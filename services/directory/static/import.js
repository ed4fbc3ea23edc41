// An administrator imports another directory's file, watching real progress: the bytes
// sent (XMLHttpRequest's upload progress), then the services imported so far of the total
// (POST /import-jobs, then GET /import-jobs/{id} until it is done), then the report.
"use strict";

(() => {
  const form = document.getElementById("import-form");
  const start = document.getElementById("import-start");
  const progress = document.getElementById("import-progress");
  const phase = document.getElementById("import-phase");
  const bar = document.getElementById("import-bar");
  const text = document.getElementById("import-progress-text");
  const message = document.getElementById("import-message");
  const report = document.getElementById("import-report");
  const POLL_MS = 250;

  function show(label, value, max, words) {
    phase.textContent = label;
    bar.max = max;
    bar.value = value;
    bar.setAttribute("aria-valuetext", words);
    text.textContent = words;
  }

  /** POST the file with upload progress; resolves with {status, data}. */
  function upload(file, merge) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/import-jobs?merge=${merge}`);
      xhr.setRequestHeader("Accept", "application/json");
      const csrf = document.cookie.split("; ").find((c) => c.startsWith("sp_csrf="));
      if (csrf) xhr.setRequestHeader("X-CSRF-Token", decodeURIComponent(csrf.slice(8)));
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.round((100 * event.loaded) / event.total);
        show("Uploading", percent, 100, `Uploading ${file.name}: ${percent}%`);
      });
      const answer = () => {
        let data = null;
        try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { data = { detail: xhr.responseText }; }
        resolve({ status: xhr.status, data });
      };
      xhr.addEventListener("load", answer);
      xhr.addEventListener("error", () => resolve({ status: 0, data: { detail: "The directory could not be reached. Check your connection and try again." } }));
      const body = new FormData();
      body.append("file", file);
      xhr.send(body);
    });
  }

  async function follow(job) {
    for (;;) {
      if (job.state === "done" || job.state === "failed") return job;
      const total = job.total || 0;
      const words = total ? `Imported ${job.done} of ${total} services` : `Imported ${job.done} services`;
      show("Importing", job.done, Math.max(total, job.done, 1), words);
      await new Promise((wait) => setTimeout(wait, POLL_MS));
      const answer = await sp.api("GET", `/import-jobs/${encodeURIComponent(job.id)}`);
      if (!answer.ok) return { state: "failed", error: answer.data?.detail || `status ${answer.status}` };
      job = answer.data;
    }
  }

  function showReport(r) {
    const c = r.counts;
    const row = (term, value) => [sp.h("dt", {}, term), sp.h("dd", {}, String(value))];
    document.getElementById("import-counts").replaceChildren(
      ...row("New entries", c.created), ...row("Updated", c.updated), ...row("Unchanged", c.unchanged),
      ...row("Merged with ours", c.merged), ...row("Rejected", c.rejected), ...row("Held back", c.duplicates),
    );
    const rejected = document.getElementById("import-rejected");
    rejected.querySelector("tbody").replaceChildren(...r.rejected.map((x) => sp.h("tr", {}, sp.h("td", {}, x.row), sp.h("td", {}, x.reason))));
    rejected.hidden = r.rejected.length === 0;
    document.getElementById("rejected-none").hidden = r.rejected.length > 0;
    document.getElementById("import-duplicates").replaceChildren(
      ...(r.possible_duplicates.length
        ? r.possible_duplicates.map((d) => sp.h("li", {}, `${d.row}: looks like ${d.matches.map((m) => `${m.name} (${m.why.join(", ")})`).join("; ")}`))
        : [sp.h("li", {}, "None.")]),
    );
    report.hidden = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    sp.clearErrors(form);
    sp.notify(message, "");
    report.hidden = true;
    const file = form.elements.namedItem("file").files[0];
    if (!file) {
      sp.showErrors(form, { field: "file", detail: "Choose a .json or .zip file to import" });
      return;
    }
    start.disabled = true;
    progress.hidden = false;
    show("Uploading", 0, 100, `Uploading ${file.name}: 0%`);
    const sent = await upload(file, form.elements.namedItem("merge").checked);
    if (sent.status !== 202) {
      progress.hidden = true;
      start.disabled = false;
      const rest = sp.showErrors(form, sent.data);
      if (rest) sp.notify(message, rest, "error");
      return;
    }
    const job = await follow(sent.data);
    start.disabled = false;
    if (job.state === "failed") {
      sp.notify(message, `The import stopped and nothing was changed: ${job.error}`, "error");
      message.focus();
      return;
    }
    show("Imported", job.total || job.done, Math.max(job.total || job.done, 1), `Imported ${job.done} of ${job.total ?? job.done} services`);
    showReport(job.report);
    const c = job.report.counts;
    sp.notify(message, `Done: ${c.created} new, ${c.updated} updated, ${c.unchanged} unchanged, ${c.rejected} rejected, ${c.duplicates} held back.`, "success");
    message.focus();
  });
  start.disabled = false; // the form is handled from here on (import.html starts it disabled)
})();
