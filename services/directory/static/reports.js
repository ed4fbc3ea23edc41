// The commissioners' dashboard: one section per report, each a chart (Chart.js, served
// from this repository) and the table that holds the same figures (the accessible form).
// Counts come from the API already protected: suppressed, or "at least" a number.
"use strict";

(() => {
  const status = document.getElementById("report-status");
  const form = document.getElementById("period");
  const preset = document.getElementById("preset");
  const charts = {};
  const REPORTS = {
    demand: "demand", gaps: "gaps", emerging: "emerging-needs", funnel: "funnel",
    outcomes: "outcomes", waits: "waiting-times", responsiveness: "responsiveness",
  };
  const BLUE = "#005eb8", GREY = "#768692", RED = "#d5281b", GREEN = "#007f3b";

  // --- figures -------------------------------------------------------------------------
  const isCount = (v) => v && typeof v === "object" && "suppressed" in v;
  const num = (c) => (isCount(c) ? (c.suppressed ? null : c.value) : c);
  function show(c) {
    if (isCount(c)) {
      if (c.suppressed) return sp.h("span", { class: "suppressed" }, "suppressed");
      if (c.at_least) return sp.h("span", { class: "at-least" }, `at least ${c.value}`);
      return String(c.value);
    }
    if (c === null || c === undefined) return "—";
    if (typeof c === "boolean") return c ? "yes" : "no";
    return String(c);
  }
  const sortValue = (c) => {
    const n = num(c);
    return typeof n === "number" ? n : (isCount(c) ? -1 : String(c ?? ""));
  };
  const heading = (key) => key.replace(/_/g, " ").replace(/^./, (x) => x.toUpperCase());

  // --- tables --------------------------------------------------------------------------
  function table(caption, rows, columns) {
    columns = columns || [...new Set(rows.flatMap((r) => Object.keys(r)))].filter(
      (k) => !(rows[0] && typeof rows[0][k] === "object" && rows[0][k] !== null && !isCount(rows[0][k]) && !Array.isArray(rows[0][k])));
    const head = sp.h("tr", {}, columns.map((col, i) => {
      const numeric = rows.some((r) => isCount(r[col]) || typeof r[col] === "number");
      return sp.h("th", { scope: "col", class: numeric ? "number" : null, "aria-sort": "none" },
        sp.h("button", { type: "button", "data-col": i }, heading(col)));
    }));
    const body = sp.h("tbody", {}, rows.length ? rows.map((r) => sp.h("tr", {}, columns.map((col, i) => {
      const value = Array.isArray(r[col]) ? r[col].map((w) => `${w.ward} ${num(w.referrals) ?? "suppressed"}`).join("; ") : r[col];
      const numeric = isCount(r[col]) || typeof r[col] === "number";
      const cell = sp.h(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, class: numeric ? "number" : null }, show(value));
      cell.dataset.sort = JSON.stringify(sortValue(r[col]));
      return cell;
    }))) : [sp.h("tr", {}, sp.h("td", { colspan: columns.length, class: "empty" }, "Nothing to show for this period."))]);
    const t = sp.h("table", { class: "sortable" }, sp.h("caption", {}, caption), sp.h("thead", {}, head), body);
    t.querySelector("thead").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-col]");
      if (button) sortBy(t, Number(button.dataset.col), button.parentElement);
    });
    return sp.h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption }, t);
  }

  function sortBy(t, col, th) {
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    t.querySelectorAll("thead th").forEach((x) => x.setAttribute("aria-sort", "none"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const rows = [...t.tBodies[0].rows];
    rows.sort((a, b) => {
      const x = JSON.parse(a.cells[col].dataset.sort || '""'), y = JSON.parse(b.cells[col].dataset.sort || '""');
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    t.tBodies[0].replaceChildren(...rows);
  }

  // --- charts --------------------------------------------------------------------------
  function chart(id, type, labels, datasets, horizontal = false) {
    if (charts[id]) charts[id].destroy();
    const canvas = document.getElementById(`${id}-chart`);
    if (!window.Chart || !canvas) return;
    charts[id] = new window.Chart(canvas, {
      type,
      data: { labels, datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: datasets.length > 1 } },
        scales: { x: { ticks: { autoSkip: !horizontal } }, y: { beginAtZero: true } },
      },
    });
    canvas.dataset.ready = "true";
  }
  const series = (label, values, color) => ({ label, data: values, backgroundColor: color });

  // --- the sections --------------------------------------------------------------------
  const fill = (id, ...nodes) => document.getElementById(`${id}-tables`).replaceChildren(...nodes);

  function demand(r) {
    const rows = r.tables.by_category;
    const cats = rows.filter((x) => x.category !== "any need");
    chart("demand", "bar", cats.map((x) => x.category), [
      series("People referred", cats.map((x) => num(x.people) ?? 0), BLUE),
      series("Previous period", cats.map((x) => num(x.previous_people) ?? 0), GREY),
    ]);
    const wards = r.tables.by_ward.map((row) => ({ category: row.category, total: row.total, ...row.by_ward }));
    fill("demand",
      table("People referred and places, by need category", rows),
      table("People referred by need category and ward", wards),
      table("People referred by GP practice", r.tables.by_practice));
  }

  function gaps(r) {
    const rows = r.tables.gaps;
    const top = rows.slice(0, 12);
    chart("gaps", "bar", top.map((x) => `${x.category} · ${x.ward}`), [
      series("Left without help", top.map((x) => num(x.shortfall) ?? 0), RED),
      series("Previous period", top.map((x) => num(x.previous_shortfall) ?? 0), GREY),
    ], true);
    fill("gaps", table("Capacity gaps, largest first", rows,
      ["rank", "category", "ward", "people", "unmet", "no_available_place", "shortfall", "previous_shortfall", "change", "weekly_capacity_reaching_ward", "demand_over_capacity"]));
  }

  function emerging(r) {
    const rows = r.tables.emerging_needs;
    chart("emerging", "bar", rows.slice(0, 12).map((x) => x.need), [
      series("Referrals", rows.slice(0, 12).map((x) => num(x.referrals) ?? 0), BLUE),
      series("Previous period", rows.slice(0, 12).map((x) => num(x.previous_referrals) ?? 0), GREY),
    ], true);
    fill("emerging", table("Emerging needs, rising first", rows, ["need", "referrals", "previous_referrals", "change", "rising", "wards"]));
  }

  const STAGES = ["referred", "contacted", "connected", "signposted", "referred_on", "accepted", "attended", "completed"];
  function funnel(r) {
    const any = r.tables.by_category[0];
    chart("funnel", "bar", STAGES.map(heading), [series("People", STAGES.map((s) => num(any[s]) ?? 0), BLUE)]);
    fill("funnel", table("The funnel by need category", r.tables.by_category),
      table("The funnel by ward", r.tables.by_ward));
  }

  function outcomes(r) {
    const any = r.tables.outcomes[0];
    const stages = ["connected", "attended", "did_not_attend", "completed"];
    chart("outcomes", "bar", stages.map(heading), [series("People", stages.map((s) => num(any[s]) ?? 0), GREEN)]);
    fill("outcomes", table("Outcomes by need category", r.tables.outcomes),
      table("Wellbeing change at follow-up (mean change; anxiety: a fall is better)", r.tables.wellbeing_change));
  }

  function waits(r) {
    const overall = r.tables.waiting_times.filter((x) => x.category === "any need" && x.ward === "all wards");
    chart("waits", "bar", overall.map((x) => x.wait), [
      series("Median days", overall.map((x) => x.median_days ?? 0), BLUE),
      series("90th percentile days", overall.map((x) => x.p90_days ?? 0), GREY),
    ]);
    fill("waits", table("Waiting times in days", r.tables.waiting_times));
  }

  function responsiveness(r) {
    const rows = r.tables.services.filter((x) => x.median_days_to_answer !== null).slice(0, 15);
    chart("responsiveness", "bar", rows.map((x) => x.service), [
      series("Median days to answer", rows.map((x) => x.median_days_to_answer), BLUE),
    ], true);
    fill("responsiveness", table("Responsiveness by service", r.tables.services),
      table("Responsiveness by organisation", r.tables.organisations));
  }

  // --- the ward map --------------------------------------------------------------------
  function wardMap(demandReport, gapsReport, wards) {
    const any = demandReport.tables.by_ward[0].by_ward;
    const short = {}, over = {};
    for (const g of gapsReport.tables.gaps) {
      short[g.ward] = (short[g.ward] || 0) + (num(g.shortfall) || 0);
      if (g.demand_over_capacity) over[g.ward] = true;
    }
    const rows = Object.keys(wards).sort().map((ward) => {
      const people = any[ward];
      const flags = [];
      if (over[ward]) flags.push("demand over capacity");
      if ((short[ward] || 0) >= 5 && (short[ward] || 0) >= 0.25 * (num(people) || 0)) flags.push("unmet needs");
      return { ward, people, change: null, left_without_help: short[ward] || 0, flags };
    });
    return rows;
  }

  function drawMap(rows, wards) {
    const lats = Object.values(wards).map((w) => w.lat), lons = Object.values(wards).map((w) => w.lon);
    const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
    const columns = window.matchMedia("(max-width: 40rem)").matches ? 3 : 6;
    const taken = new Set();
    const tiles = rows.map((r) => {
      const w = wards[r.ward];
      let col = Math.min(columns - 1, Math.floor(((w.lon - minLon) / (maxLon - minLon || 1)) * columns));
      let row = Math.floor(((maxLat - w.lat) / (maxLat - minLat || 1)) * 4);
      while (taken.has(`${row},${col}`)) { col += 1; if (col >= columns) { col = 0; row += 1; } }
      taken.add(`${row},${col}`);
      const tile = sp.h("div", { class: r.flags.length ? "ward-tile flagged" : "ward-tile" },
        sp.h("strong", {}, r.ward), sp.h("span", {}, show(r.people), " referred"),
        r.flags.length ? sp.h("div", {}, r.flags.map((f) => sp.h("span", { class: "flag" }, f))) : null);
      tile.style.gridColumn = String(col + 1);
      tile.style.gridRow = String(row + 1);
      return tile;
    });
    document.getElementById("ward-map").replaceChildren(...tiles);
    const body = document.querySelector("#map-table tbody");
    body.replaceChildren(...rows.map((r) => sp.h("tr", {}, sp.h("th", { scope: "row" }, r.ward),
      sp.h("td", { class: "number" }, show(r.people)), sp.h("td", { class: "number" }, show(r.change)),
      sp.h("td", { class: "number" }, show(r.left_without_help)), sp.h("td", {}, r.flags.join(", ") || "—"))));
  }

  // --- loading -------------------------------------------------------------------------
  function query() {
    const params = new URLSearchParams();
    if (preset.value === "custom") {
      const from = document.getElementById("from").value, to = document.getElementById("to").value;
      if (!from || !to) return null;
      params.set("from", `${from}-01`);
      const [y, m] = to.split("-").map(Number);
      params.set("to", new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10));
    } else {
      params.set("preset", preset.value);
    }
    return params;
  }

  async function load() {
    const params = query();
    if (!params) { status.textContent = "Choose the first and last month."; return; }
    status.textContent = "Loading…";
    const names = Object.keys(REPORTS);
    const [wards, ...results] = await Promise.all([
      sp.api("GET", "/wards"),
      ...names.map((n) => sp.api("GET", `/reports/${REPORTS[n]}?${params}`)),
    ]);
    const failed = results.find((r) => !r.ok) || (!wards.ok && wards);
    if (failed) { status.textContent = `The reports could not be loaded: ${failed.data && failed.data.detail}`; return; }
    const byName = Object.fromEntries(names.map((n, i) => [n, results[i].data]));
    const period = byName.demand.period, before = byName.demand.previous_period;
    document.getElementById("period-text").textContent =
      `${sp.date(period.from)} to ${sp.date(period.to)}, compared with ${sp.date(before.from)} to ${sp.date(before.to)}.`;
    for (const n of names) {
      const csv = new URLSearchParams(params); csv.set("format", "csv");
      document.getElementById(`${n}-csv`).href = `/reports/${REPORTS[n]}?${csv}`;
    }
    demand(byName.demand); gaps(byName.gaps); emerging(byName.emerging); funnel(byName.funnel);
    outcomes(byName.outcomes); waits(byName.waits); responsiveness(byName.responsiveness);
    const rows = wardMap(byName.demand, byName.gaps, wards.data.wards);
    const previous = await sp.api("GET", `/reports/demand?from=${before.from}&to=${before.to}`);
    if (previous.ok) {
      const then = previous.data.tables.by_ward[0].by_ward;
      for (const r of rows) {
        const a = num(r.people), b = num(then[r.ward]);
        const exact = !(r.people.at_least || (then[r.ward] && then[r.ward].at_least));
        r.change = exact && a !== null && b !== null ? a - b : null;
        if (exact && b && a !== null && (a - b) / b >= 0.25 && a - b >= 5) r.flags.push("rising fast");
      }
    }
    drawMap(rows, wards.data.wards);
    status.textContent = "";
  }

  preset.addEventListener("change", () => {
    document.querySelectorAll(".custom-period").forEach((x) => { x.hidden = preset.value !== "custom"; });
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
})();
