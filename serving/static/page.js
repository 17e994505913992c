// The abscopal web page: one patient or a cohort CSV scored through POST /predict.
// No build step, no library, nothing fetched from elsewhere. The form is built from the OpenAPI
// document (/docs.json: labels, units, ranges, explanations of serving/schemas.py), the model's
// own facts (MCID, interval level, CSV columns) come from GET /model. Text from the server is
// always inserted as text (textContent), never as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const GROUP_TITLES = {
  "clinical": "Clinical",
  "biomarkers": "Biomarkers",
  "mutations": "Mutations",
  "blood markers": "Blood markers",
  "clinical (as given)": "This model's own clinical inputs",
};
const RAW_FIELDS = new Set(["expression", "mutations", "as_given"]);
const RECOMMENDATION_TEXT = {
  add_rt: "Add stereotactic RT",
  no_added_benefit: "No added benefit expected",
  uncertain: "Uncertain",
};
// Features whose name starts with another stem than the input field's own name.
const FEATURE_STEMS = {sex: "sex_", histology: "histology_", smoking_status: "smoking_",
                       pdl1_tps: "pdl1_"};

const state = {
  token: null,       // in this tab's memory only
  spec: null,        // /docs.json
  card: null,        // GET /model
  fields: [],        // [{name, kind, input, ...}]
  ready: false,
  cohortUrl: null,
};

// --- small helpers ---------------------------------------------------------------------------

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" ||
             key === "for" || key === "id" || key === "tabindex" || key === "hidden") {
      node.setAttribute(key, value === true ? "" : value);
    } else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.dataset.kind = kind || "info";
}

function fmt(x, digits) {
  return x === null || x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits);
}

function signed(x, digits) {
  const s = fmt(x, digits);
  return Number.isFinite(x) && x > 0 ? "+" + s : s;
}

class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  opts.headers = headers;
  let response;
  try {
    response = await fetch(path, opts);
  } catch (err) {
    throw new ApiError(0, null, "the server cannot be reached");
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (err) { body = null; }
  if (response.status === 401) {
    askForToken(state.token ? "The server refused this token (401): check it." : null);
    throw new ApiError(401, body, "the server requires an API token");
  }
  if (!response.ok) {
    const message = body && body.error ? body.error : "HTTP " + response.status;
    throw new ApiError(response.status, body, message);
  }
  return body;
}

// --- start-up: readiness, API description, model card, token ---------------------------------

async function waitUntilReady() {
  for (;;) {
    let status = 0;
    try {
      status = (await fetch("readyz", {cache: "no-store"})).status;
    } catch (err) {
      status = 0;
    }
    if (status === 200) return;
    setStatus(status === 0
      ? "The server cannot be reached. Is abscopal serve running? Retrying…"
      : "The server is not ready (HTTP " + status + "): the model is still loading. Retrying…",
    "error");
    state.ready = false;
    updateButtons();
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function start() {
  $("patient-form").addEventListener("submit", onPredict);
  $("patient-form").addEventListener("reset", () => setTimeout(clearPatientMarks, 0));
  $("auth-form").addEventListener("submit", onToken);
  $("cohort-form").addEventListener("submit", onCohort);
  await waitUntilReady();
  setStatus("Server ready. Loading the API description…");
  try {
    state.spec = await api("docs.json");
  } catch (err) {
    setStatus("Could not load the API description (/docs.json): " + err.message, "error");
    return;
  }
  buildForm([]);
  await loadCard();
}

async function loadCard() {
  try {
    state.card = await api("model");
  } catch (err) {
    if (err.status !== 401) setStatus("Could not load the model card: " + err.message, "error");
    return;
  }
  $("auth").hidden = true;
  const model = state.card.model || {};
  const asGiven = (state.card.features || []).filter((f) => f.group === "clinical (as given)");
  if (asGiven.length) buildForm(asGiven);
  showSyntheticBanner(state.card.synthetic, state.card.notice);
  state.ready = true;
  updateButtons();
  setStatus("Ready: model " + model.name + " version " + model.version +
            (state.card.synthetic ? " (SYNTHETIC training data)" : "") + ".", "ok");
}

function askForToken(message) {
  $("auth").hidden = false;
  $("token-error").textContent = message || "";
  state.ready = false;
  updateButtons();
  setStatus("This server requires an API token: enter it above.", "error");
  $("token").focus();
}

async function onToken(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  if (!value) {
    $("token-error").textContent = "Enter the token the server was started with.";
    return;
  }
  state.token = value;
  $("token-error").textContent = "";
  await loadCard();
}

function updateButtons() {
  $("predict-button").disabled = !state.ready;
  $("cohort-button").disabled = !state.ready;
}

function showSyntheticBanner(synthetic, notice) {
  const banner = $("synthetic-banner");
  banner.hidden = !synthetic;
  banner.textContent = synthetic ? notice : "";
}

// --- the form ----------------------------------------------------------------------------------

function patientSchema() {
  const schemas = (state.spec.components || {}).schemas || {};
  return schemas.Patient || {properties: {}};
}

function fieldSpec(name, prop) {
  const variants = prop.anyOf ? prop.anyOf.filter((v) => v.type !== "null") : [prop];
  const base = Object.assign({}, ...variants);
  const values = base.enum || null;
  let kind = "text";
  if (values && base.type === "integer") kind = "flag";
  else if (values) kind = "choice";
  else if (base.type === "number" || base.type === "integer") kind = "number";
  return {
    name, kind, values,
    label: prop.title || name,
    group: prop["x-group"] || "clinical",
    unit: prop["x-unit"] || "",
    // the page says once that every field is optional; code marks are plain text here
    hint: (prop.description || "").replace(" Optional: imputed when missing.", "")
      .replace(/`/g, ""),
    example: prop.example !== undefined ? prop.example
      : (prop.examples && prop.examples.length ? prop.examples[0] : null),
    min: base.minimum, max: base.maximum,
  };
}

function asGivenSpec(feature) {
  const ranges = ((state.card || {}).training_data || {}).feature_ranges || {};
  const range = ranges[feature.name];
  const rangeText = range ? " Training range " + range[0] + "-" + range[1] + "." : "";
  return {
    name: feature.name, kind: "number", values: null, label: feature.name,
    group: "clinical (as given)", unit: feature.unit || "",
    hint: (feature.description || "A clinical column this model was trained on.") + rangeText,
    example: null,
  };
}

function buildForm(asGivenFeatures) {
  const props = patientSchema().properties || {};
  const specs = Object.entries(props).filter(([name]) => !RAW_FIELDS.has(name))
    .map(([name, prop]) => fieldSpec(name, prop));
  specs.push(...asGivenFeatures.map(asGivenSpec));
  const groups = new Map();
  for (const spec of specs) {
    if (!groups.has(spec.group)) groups.set(spec.group, []);
    groups.get(spec.group).push(spec);
  }
  const container = $("fields");
  const previous = new Map(state.fields.map((f) => [f.name, f.input.value]));
  container.replaceChildren();
  state.fields = [];
  for (const [group, members] of groups) {
    const fieldset = el("fieldset", {class: "group", "data-group": group},
      el("legend", {text: GROUP_TITLES[group] || group}));
    for (const spec of members) {
      const field = renderField(spec);
      if (previous.has(spec.name)) field.input.value = previous.get(spec.name);
      fieldset.append(field.wrapper);
      state.fields.push(field);
    }
    container.append(fieldset);
  }
}

function renderField(spec) {
  const id = "f-" + spec.name;
  let input;
  if (spec.kind === "choice" || spec.kind === "flag") {
    input = el("select", {id, name: spec.name},
      el("option", {value: "", text: "not given (imputed)"}),
      spec.values.map((v) => el("option", {value: String(v), text: spec.kind === "flag"
        ? (v === 1 ? "1: mutated" : "0: not mutated") : String(v)})));
  } else {
    input = el("input", {id, name: spec.name, type: "text", autocomplete: "off",
      inputMode: spec.kind === "number" ? "decimal" : "text",
      placeholder: spec.example !== null ? "e.g. " + spec.example : ""});
  }
  input.setAttribute("aria-describedby", "hint-" + spec.name + " error-" + spec.name);
  const unit = spec.unit && spec.unit !== "0/1" ? el("span", {class: "unit", text: " (" + spec.unit + ")"}) : null;
  const wrapper = el("div", {class: "field", "data-field": spec.name},
    el("label", {for: id}, spec.label, unit),
    input,
    el("p", {class: "hint", id: "hint-" + spec.name, text: spec.hint}),
    el("p", {class: "imputed-note", id: "imputed-" + spec.name, hidden: true}),
    el("p", {class: "field-error", id: "error-" + spec.name}));
  return Object.assign({}, spec, {input, wrapper});
}

function clearPatientMarks() {
  for (const field of state.fields) {
    field.input.removeAttribute("aria-invalid");
    $("error-" + field.name).textContent = "";
    const note = $("imputed-" + field.name);
    note.hidden = true;
    note.textContent = "";
  }
  for (const name of ["expression", "mutations"]) $("error-" + name).textContent = "";
  $("form-error").textContent = "";
}

function parseValue(field, text) {
  if (field.kind === "number" || field.kind === "flag") {
    const number = Number(text);
    // Not a number: sent as typed, the API names the field and says why.
    return text !== "" && Number.isFinite(number) ? number : text;
  }
  return text;
}

// --- raw files -------------------------------------------------------------------------------

function splitLine(line, sep) {
  return line.split(sep).map((c) => c.trim().replace(/^"(.*)"$/, "$1"));
}

function parseExpression(text, patientId) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#"));
  if (!lines.length) throw new Error("the file is empty");
  const sep = lines[0].includes("\t") ? "\t" : ",";
  const header = splitLine(lines[0], sep);
  let column = 1;
  if (header.length > 2) {
    const named = patientId ? header.indexOf(patientId) : -1;
    column = named > 0 ? named : 1;
  }
  const expression = {};
  const start = Number.isFinite(Number(header[column])) ? 0 : 1;  // no header row
  for (const line of lines.slice(start)) {
    const cells = splitLine(line, sep);
    if (cells.length <= column || !cells[0]) continue;
    const value = Number(cells[column]);
    expression[cells[0]] = cells[column] !== "" && Number.isFinite(value) ? value : cells[column];
  }
  return expression;
}

function parseMaf(text, patientId) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#"));
  if (!lines.length) throw new Error("the file is empty");
  const header = splitLine(lines[0], "\t");
  const gene = header.indexOf("Hugo_Symbol");
  const kind = header.indexOf("Variant_Classification");
  const sample = header.indexOf("Tumor_Sample_Barcode");
  if (gene < 0 || kind < 0) {
    throw new Error("a MAF needs the columns Hugo_Symbol and Variant_Classification");
  }
  const mutations = [];
  for (const line of lines.slice(1)) {
    const cells = splitLine(line, "\t");
    if (sample >= 0 && patientId && cells[sample] && cells[sample] !== patientId) continue;
    mutations.push({gene: cells[gene], variant_classification: cells[kind]});
  }
  return mutations;
}

async function readRawFiles(patient) {
  const problems = [];
  const expressionFile = $("expression-file").files[0];
  if (expressionFile) {
    try {
      patient.expression = parseExpression(await expressionFile.text(), patient.patient_id);
    } catch (err) {
      problems.push(["expression", err.message]);
    }
  }
  const mafFile = $("maf-file").files[0];
  if (mafFile) {
    try {
      patient.mutations = parseMaf(await mafFile.text(), patient.patient_id);
    } catch (err) {
      problems.push(["mutations", err.message]);
    }
  }
  return problems;
}

// --- one patient -----------------------------------------------------------------------------

async function onPredict(event) {
  event.preventDefault();
  clearPatientMarks();
  const patient = {};
  for (const field of state.fields) {
    const text = field.input.value.trim();
    if (text !== "") patient[field.name] = parseValue(field, text);
  }
  const fileProblems = await readRawFiles(patient);
  if (fileProblems.length) {
    showProblems(fileProblems.map(([path, message]) => ({path: "patients[0]." + path, message})));
    return;
  }
  const button = $("predict-button");
  button.disabled = true;
  setStatus("Scoring…");
  try {
    const body = await api("predict", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({patients: [patient], curve_bands: true}),
    });
    renderResult(body.predictions[0], body.model, patient);
    setStatus("Scored " + body.predictions[0].patient_id + ".", "ok");
  } catch (err) {
    if (err.status === 400 && err.body && err.body.problems) {
      showProblems(err.body.problems, err.body.more_problems);
      setStatus("The API refused some values: see the messages beside the fields.", "error");
    } else if (err.status !== 401) {
      $("form-error").textContent = "The request failed: " + err.message +
        (err.body && err.body.problems ? " (" + err.body.problems.map((p) => p.message).join("; ") + ")" : "");
      setStatus("The request failed: " + err.message, "error");
    }
  } finally {
    button.disabled = !state.ready;
  }
}

function fieldOfPath(path) {
  // patients[0].pdl1_tps -> pdl1_tps; patients[0].as_given.crp -> crp; mutations[3].gene -> mutations
  const rest = path.replace(/^patients\[\d+\]\.?/, "");
  const parts = rest.split(/[.[]/).filter(Boolean);
  if (parts[0] === "as_given" && parts.length > 1) return parts[1];
  return parts[0] || null;
}

function showProblems(problems, more) {
  const general = [];
  let first = null;
  for (const problem of problems) {
    const name = fieldOfPath(problem.path);
    const target = name ? $("error-" + name) : null;
    if (!target) {
      general.push(problem.path + ": " + problem.message);
      continue;
    }
    target.textContent = (target.textContent ? target.textContent + "; " : "") + problem.message;
    const field = state.fields.find((f) => f.name === name);
    const input = field ? field.input : $(name === "expression" ? "expression-file" : "maf-file");
    input.setAttribute("aria-invalid", "true");
    if (!first) first = input;
  }
  if (more) general.push(more + " more problems");
  $("form-error").textContent = general.length ? "Not accepted: " + general.join("; ") : "";
  if (first) first.focus();
}

function imputedFeatures(warnings) {
  const prefix = "missing, imputed by the model: ";
  const line = warnings.find((w) => w.startsWith(prefix));
  return line ? line.slice(prefix.length).split(", ") : [];
}

function markImputed(sent, imputed) {
  for (const field of state.fields) {
    if (field.name in sent || field.name === "patient_id") continue;
    const stem = FEATURE_STEMS[field.name] || null;
    const used = imputed.filter((f) => f === field.name || (stem && f.startsWith(stem)));
    const note = $("imputed-" + field.name);
    note.hidden = false;
    note.textContent = used.length ? "Not given: imputed by the model (" + used.join(", ") + ")."
      : "Not given (not an input of this model).";
  }
}

function renderResult(p, model, sent) {
  const card = state.card || {model: {}};
  const rule = (card.model || {}).recommendation_rule || {mcid_months: 1, level: 0.9};
  const level = Math.round(100 * ((card.model || {}).interval_level || 0.9));
  const imputed = imputedFeatures(p.warnings);
  markImputed(sent, imputed);
  const result = $("result");
  result.replaceChildren();
  const heading = el("h3", {id: "result-title", tabindex: "-1",
    text: "Result for " + p.patient_id});
  const printButton = el("button", {type: "button", class: "secondary no-print",
    text: "Print this result", onclick: () => window.print()});
  result.append(el("div", {class: "result-head"}, heading, printButton));
  if (model.synthetic) {
    result.append(el("p", {class: "banner-synthetic", text: model.notice}));
  }
  result.append(recommendationBlock(p, model, rule));
  result.append(numbersTable(p, rule, level));
  result.append(curveChart(p, level));
  result.append(driversBlock(p.drivers, model));
  result.append(warningsBlock(p.warnings, imputed));
  result.append(modelBlock(model));
  heading.focus();
}

function recommendationBlock(p, model, rule) {
  const mcid = rule.mcid_months;
  const level = rule.level;
  const ruleText = "Rule: add RT when P(12-month RMST gain ≥ " + mcid + " month" +
    (mcid === 1 ? "" : "s") + ") ≥ " + level + "; no added benefit when P(gain < " + mcid +
    " month" + (mcid === 1 ? "" : "s") + ") ≥ " + level + "; otherwise uncertain.";
  const children = [
    el("p", {class: "recommendation", "data-recommendation": p.recommendation},
      "Recommendation: ", el("strong", {text: RECOMMENDATION_TEXT[p.recommendation] || p.recommendation}),
      " (" + p.recommendation + ")"),
    el("p", {class: "rule", text: ruleText}),
  ];
  if (model.effect === "average") {
    children.push(el("p", {class: "rule", text: "This model serves the trial's average " +
      "effect to every patient (heterogeneity was not shown): no individual recommendation."}));
  }
  return el("div", {class: "recommendation-box"}, children);
}

function numbersTable(p, rule, level) {
  const rows = [
    ["pfs_gain_6mo", "PFS gain at 6 months", 100, 1, "percentage points"],
    ["pfs_gain_12mo", "PFS gain at 12 months", 100, 1, "percentage points"],
    ["rmst_gain_12mo", "12-month RMST gain", 1, 2, "months"],
  ];
  const body = el("tbody");
  for (const [key, label, scale, digits, unit] of rows) {
    const b = p.benefit[key];
    body.append(el("tr", {"data-key": key, "data-estimate": b.estimate, "data-lower": b.lower,
                          "data-upper": b.upper},
      el("th", {scope: "row", text: label}),
      el("td", {class: "estimate", text: signed(b.estimate * scale, digits) + " " + unit}),
      el("td", {class: "interval",
                text: fmt(b.lower * scale, digits) + " to " + fmt(b.upper * scale, digits)})));
  }
  body.append(el("tr", {"data-key": "probability_of_benefit",
                        "data-estimate": p.probability_of_benefit},
    el("th", {scope: "row", text: "P(12-month RMST gain ≥ " + rule.mcid_months + " month, the MCID)"}),
    el("td", {class: "estimate", text: fmt(100 * p.probability_of_benefit, 1) + " %"}),
    el("td", {class: "interval", text: "share of bootstrap models"})));
  return el("table", {class: "numbers"},
    el("caption", {text: "Benefit of adding RT (" + level + " % intervals)"}),
    el("thead", {}, el("tr", {}, el("th", {scope: "col", text: "Estimand"}),
      el("th", {scope: "col", text: "Estimate"}),
      el("th", {scope: "col", text: level + " % interval"}))),
    body);
}

function curveAt(survival, arm, month) {
  const i = survival.months.findIndex((m) => Math.abs(m - month) < 1e-9);
  return i < 0 ? null : survival[arm][i];
}

function curveChart(p, level) {
  const W = 640, H = 330, L = 52, R = 16, T = 16, B = 44;
  const s = p.survival;
  const maxMonth = s.months[s.months.length - 1];
  const x = (m) => L + (W - L - R) * m / maxMonth;
  const y = (v) => T + (H - T - B) * (1 - v);
  const chart = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "chart", id: "curve-chart",
                            role: "img", "aria-labelledby": "curve-title curve-desc"});
  const s6 = [curveAt(s, "ici", 6), curveAt(s, "rt_ici", 6)];
  const s12 = [curveAt(s, "ici", 12), curveAt(s, "rt_ici", 12)];
  chart.append(svg("title", {id: "curve-title", text: "Predicted progression-free survival"}));
  const arms = [["ici", "ICI alone", "curve-ici", "band-ici"],
                ["rt_ici", "RT then ICI", "curve-rt", "band-rt"]];
  const banded = arms.filter(([arm]) => Array.isArray(s[arm + "_lower"]) &&
                                        Array.isArray(s[arm + "_upper"]));
  const bandText = (arm, label, month) => {
    const lo = curveAt({months: s.months, v: s[arm + "_lower"]}, "v", month);
    const hi = curveAt({months: s.months, v: s[arm + "_upper"]}, "v", month);
    return label + " " + fmt(100 * lo, 1) + " to " + fmt(100 * hi, 1) + " %";
  };
  chart.append(svg("desc", {id: "curve-desc", text:
    "PFS at 6 months: ICI alone " + fmt(100 * s6[0], 1) + " %, RT then ICI " +
    fmt(100 * s6[1], 1) + " %. At 12 months: " + fmt(100 * s12[0], 1) + " % and " +
    fmt(100 * s12[1], 1) + " %." +
    (banded.length ? " Shaded: the " + level + " % interval of each curve; at 12 months " +
      banded.map(([arm, label]) => bandText(arm, label, 12)).join(", ") + "." : "") +
    (banded.length === 1 && banded[0][0] === "rt_ici" ? " The ICI-alone curve is the real-world prognosis model's, taken as " +
      "known: no interval." : "")}));
  for (let v = 0; v <= 1.0001; v += 0.25) {
    chart.append(svg("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid"}));
    chart.append(svg("text", {x: L - 6, y: y(v) + 4, class: "tick", "text-anchor": "end",
                              text: Math.round(v * 100) + "%"}));
  }
  for (let m = 0; m <= maxMonth; m += 3) {
    chart.append(svg("line", {x1: x(m), x2: x(m), y1: y(0), y2: y(0) + 4, class: "axis"}));
    chart.append(svg("text", {x: x(m), y: y(0) + 17, class: "tick", "text-anchor": "middle",
                              text: String(m)}));
  }
  chart.append(svg("line", {x1: L, x2: W - R, y1: y(0), y2: y(0), class: "axis"}));
  chart.append(svg("line", {x1: L, x2: L, y1: y(0), y2: y(1), class: "axis"}));
  chart.append(svg("text", {x: (L + W - R) / 2, y: H - 6, class: "label", "text-anchor": "middle",
                            text: "months since the start of treatment"}));
  chart.append(svg("text", {x: 14, y: (T + H - B) / 2, class: "label", "text-anchor": "middle",
                            transform: "rotate(-90 14 " + (T + H - B) / 2 + ")",
                            text: "progression-free"}));
  // Each arm's pointwise interval, shaded behind the curves: along the upper bound, back along
  // the lower one.
  for (const [arm, label, , bandClass] of banded) {
    const upper = s.months.map((m, i) => x(m).toFixed(1) + " " + y(s[arm + "_upper"][i]).toFixed(1));
    const lower = s.months.map((m, i) => x(m).toFixed(1) + " " + y(s[arm + "_lower"][i]).toFixed(1));
    const d = "M" + upper.join(" L") + " L" + lower.reverse().join(" L") + " Z";
    chart.append(svg("path", {d, class: "curve-band " + bandClass, "data-band-arm": arm},
                     svg("title", {text: label + ": " + level + " % interval"})));
  }
  // The interval of the gain at 6 and 12 months, drawn on the RT curve (ICI alone + gain).
  for (const [month, key] of [[6, "pfs_gain_6mo"], [12, "pfs_gain_12mo"]]) {
    const base = curveAt(s, "ici", month);
    const b = p.benefit[key];
    if (base === null) continue;
    const lo = Math.max(0, Math.min(1, base + b.lower));
    const hi = Math.max(0, Math.min(1, base + b.upper));
    chart.append(svg("rect", {x: x(month) - 7, y: y(hi), width: 14,
                              height: Math.max(1, y(lo) - y(hi)), class: "band",
                              "data-month": month}));
    chart.append(svg("line", {x1: x(month), x2: x(month), y1: y(base), y2: y(base + b.estimate),
                              class: "gain"}));
  }
  for (const [arm, , cls] of arms) {
    const d = s.months.map((m, i) => (i ? "L" : "M") + x(m).toFixed(1) + " " +
                                        y(s[arm][i]).toFixed(1)).join(" ");
    chart.append(svg("path", {d, class: "curve " + cls, "data-arm": arm,
                              "data-points": s.months.length}));
  }
  const legend = svg("g", {class: "legend", transform: "translate(" + (W - R - 230) + "," + (T + 6) + ")"});
  const bandRow = banded.length ? 20 : 0;
  legend.append(svg("rect", {x: -8, y: -12, width: 236, height: 64 + bandRow,
                             class: "legend-box"}));
  legend.append(svg("line", {x1: 0, x2: 28, y1: 0, y2: 0, class: "curve curve-rt"}));
  legend.append(svg("text", {x: 36, y: 4, text: "RT then ICI"}));
  legend.append(svg("line", {x1: 0, x2: 28, y1: 20, y2: 20, class: "curve curve-ici"}));
  legend.append(svg("text", {x: 36, y: 24, text: "ICI alone"}));
  if (banded.length) {  // one swatch per banded arm, in the arm's colour
    banded.forEach(([, , , bandClass], j) => legend.append(
      svg("rect", {x: 14 * j, y: 34, width: 28 / banded.length, height: 10,
                   class: "curve-band " + bandClass})));
    legend.append(svg("text", {x: 36, y: 44, class: "band-legend", text: banded.length > 1
      ? level + " % interval of each curve" : level + " % interval (RT then ICI)"}));
  }
  legend.append(svg("rect", {x: 7, y: 34 + bandRow, width: 14, height: 10, class: "band"}));
  legend.append(svg("text", {x: 36, y: 44 + bandRow, text: level + " % interval of the gain"}));
  chart.append(legend);
  return el("figure", {class: "curves"}, chart,
    el("figcaption", {text: "Predicted PFS under ICI alone and under stereotactic RT then " +
      "ICI; the shaded areas are each curve's pointwise " + level + " % interval, the bars at " +
      "6 and 12 months the interval of the gain from adding RT."}));
}

function driversBlock(drivers, model) {
  const block = el("div", {class: "drivers"}, el("h4", {text: "Why: what drives the predicted gain"}));
  if (!drivers.length) {
    block.append(el("p", {text: model.effect === "average"
      ? "No drivers: this model serves the trial's average effect to every patient."
      : "No input moves this patient's predicted gain."}));
    return block;
  }
  const W = 640, rowH = 30, labelW = 250, T = 8;
  const H = T + rowH * drivers.length + 24;
  const maxAbs = Math.max(...drivers.map((d) => Math.abs(d.contribution_months)), 1e-9);
  const mid = labelW + (W - labelW - 20) / 2;
  const half = (W - labelW - 20) / 2 - 60;
  const chart = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "chart", id: "drivers-chart",
                            role: "img", "aria-labelledby": "drivers-title"});
  chart.append(svg("title", {id: "drivers-title", text: "Contributions to the predicted " +
    "12-month RMST gain (months): " + drivers.map((d) => d.feature + " " +
    signed(d.contribution_months, 2)).join(", ")}));
  chart.append(svg("line", {x1: mid, x2: mid, y1: T - 4, y2: T + rowH * drivers.length, class: "axis"}));
  drivers.forEach((d, i) => {
    const yy = T + i * rowH;
    const width = half * Math.abs(d.contribution_months) / maxAbs;
    const up = d.contribution_months > 0;
    const value = d.value === null ? "imputed" : String(Number(d.value.toPrecision(4)));
    chart.append(svg("text", {x: labelW - 8, y: yy + 19, "text-anchor": "end", class: "tick",
                              text: d.feature + " = " + value}));
    chart.append(svg("rect", {x: up ? mid : mid - width, y: yy + 6, width: Math.max(width, 1),
                              height: rowH - 12, class: up ? "bar-up" : "bar-down",
                              "data-feature": d.feature}));
    chart.append(svg("text", {x: up ? mid + width + 6 : mid - width - 6, y: yy + 19,
                              "text-anchor": up ? "start" : "end", class: "tick",
                              text: signed(d.contribution_months, 2) + " mo " + (up ? "▲" : "▼")}));
  });
  chart.append(svg("text", {x: mid, y: H - 6, "text-anchor": "middle", class: "label",
                            text: "◀ decreases benefit · months of RMST gain · increases benefit ▶"}));
  block.append(chart);
  return block;
}

function warningsBlock(warnings, imputed) {
  const list = el("ul", {class: "warnings"});
  for (const w of warnings) {
    if (w.startsWith("missing, imputed by the model: ")) {
      list.append(el("li", {class: "warning-imputed"}, el("strong", {text: "Imputed by the model (" +
        imputed.length + " inputs): "}), imputed.join(", ")));
    } else {
      list.append(el("li", {text: w}));
    }
  }
  return el("div", {class: "warnings-block"},
    el("h4", {text: "Warnings (" + warnings.length + ")"}),
    warnings.length ? list : el("p", {text: "None."}));
}

function modelBlock(model) {
  const rows = [
    ["Model", model.name], ["Version", model.version], ["MLflow run", model.run_id],
    ["Model URI", model.uri], ["Training data fingerprint (sha256)", model.training_data_fingerprint],
    ["Training data", model.synthetic ? "SYNTHETIC (simulated patients)" : "real patients"],
    ["Effect served", model.effect], ["ICI-alone baseline", model.baseline],
  ];
  const list = el("dl", {class: "model-facts"});
  for (const [term, value] of rows) {
    if (value === undefined) continue;
    list.append(el("dt", {text: term}), el("dd", {}, el("code", {text: String(value)})));
  }
  // a synthetic model's notice is the banner at the top of the result already
  return el("div", {class: "model-block"}, el("h4", {text: "Model"}), list,
    model.synthetic ? null : el("p", {class: "notice", text: model.notice}));
}

// --- cohort ----------------------------------------------------------------------------------

function parseCsv(text) {
  // RFC 4180: quoted cells may hold commas, quotes ("") and line breaks.
  const rows = [];
  let row = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows.filter((r) => r.some((c) => c.trim() !== ""));
}

function csvCell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : "";
  const s = String(value);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// One column of `abscopal predict`'s CSV from a /predict prediction (column names: GET /model,
// api.prediction_csv_columns, taken from the code that writes that CSV).
function csvValue(column, p) {
  if (column === "patient_id") return p.patient_id;
  let m = column.match(/^s_(ici|rt_ici)_(\d+)mo$/);
  if (m) return curveAt(p.survival, m[1], Number(m[2]));
  m = column.match(/^(pfs_gain_6mo|pfs_gain_12mo|rmst_gain_12mo)(?:_(lower|upper))?$/);
  if (m) return p.benefit[m[1]][m[2] || "estimate"];
  if (column === "warnings") return p.warnings.join("; ");
  if (column in p) return p[column];
  return null;
}

function predictionsCsv(predictions) {
  const columns = state.card.api.prediction_csv_columns;
  const lines = [columns.join(",")];
  for (const p of predictions) lines.push(columns.map((c) => csvCell(csvValue(c, p))).join(","));
  return lines.join("\n") + "\n";
}

function cohortRecords(rows) {
  const header = rows[0].map((h) => h.trim());
  const byName = new Map(state.fields.map((f) => [f.name, f]));
  if (!header.includes("patient_id")) {
    throw new Error("the CSV has no patient_id column (docs/cohort-format.md)");
  }
  const used = header.filter((h) => byName.has(h));
  const ignored = header.filter((h) => !byName.has(h));
  const records = rows.slice(1).map((cells) => {
    const record = {};
    header.forEach((name, j) => {
      const field = byName.get(name);
      const text = (cells[j] || "").trim();
      if (field && text !== "") record[name] = parseValue(field, text);
    });
    return record;
  });
  return {records, used, ignored};
}

async function onCohort(event) {
  event.preventDefault();
  const error = $("cohort-error");
  error.replaceChildren();
  const file = $("cohort-file").files[0];
  if (!file) {
    error.textContent = "Choose a CSV file first.";
    $("cohort-file").focus();
    return;
  }
  let parsed;
  try {
    const rows = parseCsv(await file.text());
    if (rows.length < 2) throw new Error("the CSV has no patient rows");
    parsed = cohortRecords(rows);
  } catch (err) {
    error.textContent = "Cannot read " + file.name + ": " + err.message;
    return;
  }
  const batch = state.card.api.max_patients_per_request;
  const predictions = [];
  let model = null;
  $("cohort-button").disabled = true;
  try {
    for (let start = 0; start < parsed.records.length; start += batch) {
      setStatus("Scoring the cohort: " + start + " of " + parsed.records.length + " patients…");
      let body;
      try {
        body = await api("predict", {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({patients: parsed.records.slice(start, start + batch)})});
      } catch (err) {
        showCohortProblems(err, start, parsed.records);
        setStatus("The cohort was not scored: see the problems listed.", "error");
        return;
      }
      predictions.push(...body.predictions);
      model = body.model;
    }
  } finally {
    $("cohort-button").disabled = !state.ready;
  }
  renderCohort(predictions, model, parsed, file.name);
  setStatus("Scored " + predictions.length + " patients from " + file.name + ".", "ok");
}

function showCohortProblems(err, offset, records) {
  const error = $("cohort-error");
  if (!(err.body && err.body.problems)) {
    error.textContent = "The request failed: " + err.message;
    return;
  }
  const list = el("ul");
  for (const problem of err.body.problems) {
    const m = problem.path.match(/^patients\[(\d+)\]\.?(.*)$/);
    if (m) {
      const i = offset + Number(m[1]);
      const id = records[i] && records[i].patient_id ? " (patient " + records[i].patient_id + ")" : "";
      list.append(el("li", {text: "line " + (i + 2) + id + ", column " + (m[2] || "?") + ": " +
                                  problem.message}));
    } else {
      list.append(el("li", {text: problem.path + ": " + problem.message}));
    }
  }
  if (err.body.more_problems) list.append(el("li", {text: err.body.more_problems + " more problems"}));
  error.append(el("p", {text: "The API refused the cohort (" + err.message + "):"}), list);
}

function renderCohort(predictions, model, parsed, fileName) {
  const rule = state.card.model.recommendation_rule || {mcid_months: 1};
  const counts = {};
  for (const p of predictions) counts[p.recommendation] = (counts[p.recommendation] || 0) + 1;
  const summary = predictions.length + " patients from " + fileName + "; columns used: " +
    parsed.used.join(", ") + (parsed.ignored.length ? "; ignored: " + parsed.ignored.join(", ") : "") +
    ". Recommendations: " + Object.entries(counts).map(([k, n]) => k + " " + n).join(", ") +
    ". Model " + model.name + " version " + model.version +
    (model.synthetic ? " (SYNTHETIC training data)" : "") + ".";
  $("cohort-summary").textContent = summary;
  if (state.cohortUrl) URL.revokeObjectURL(state.cohortUrl);
  state.cohortUrl = URL.createObjectURL(new Blob([predictionsCsv(predictions)], {type: "text/csv"}));
  $("cohort-download").href = state.cohortUrl;
  $("histogram").replaceChildren(histogram(predictions.map((p) => p.benefit.rmst_gain_12mo.estimate),
                                           rule.mcid_months));
  const thead = $("cohort-table").querySelector("thead");
  const tbody = $("cohort-table").querySelector("tbody");
  const heads = ["patient_id", "PFS gain 6 mo (points)", "PFS gain 12 mo (points)",
                 "RMST gain 12 mo (months)", "P(gain ≥ MCID)", "recommendation", "warnings"];
  thead.replaceChildren(el("tr", {}, heads.map((h) => el("th", {scope: "col", text: h}))));
  tbody.replaceChildren();
  const interval = (b, scale, d) => signed(b.estimate * scale, d) + " [" + fmt(b.lower * scale, d) +
    ", " + fmt(b.upper * scale, d) + "]";
  for (const p of predictions) {
    const other = p.warnings.filter((w) => !w.startsWith("missing, imputed by the model: "));
    const imputed = imputedFeatures(p.warnings).length;
    tbody.append(el("tr", {"data-patient": p.patient_id},
      el("th", {scope: "row", text: p.patient_id}),
      el("td", {text: interval(p.benefit.pfs_gain_6mo, 100, 1)}),
      el("td", {text: interval(p.benefit.pfs_gain_12mo, 100, 1)}),
      el("td", {text: interval(p.benefit.rmst_gain_12mo, 1, 2)}),
      el("td", {text: fmt(100 * p.probability_of_benefit, 1) + " %"}),
      el("td", {text: p.recommendation}),
      el("td", {title: other.join("\n"), text: imputed + " imputed" +
        (other.length ? "; " + other.length + " other" : "")})));
  }
  $("cohort-result").hidden = false;
}

function histogram(values, mcid) {
  const W = 640, H = 240, L = 44, R = 16, T = 12, B = 40;
  const finite = values.filter(Number.isFinite);
  let lo = Math.min(...finite, mcid), hi = Math.max(...finite, mcid);
  if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
  const bins = Math.max(5, Math.min(30, Math.ceil(Math.sqrt(finite.length))));
  const width = (hi - lo) / bins;
  const counts = new Array(bins).fill(0);
  for (const v of finite) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
  const top = Math.max(...counts, 1);
  const x = (v) => L + (W - L - R) * (v - lo) / (hi - lo);
  const y = (c) => T + (H - T - B) * (1 - c / top);
  const chart = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "chart", role: "img",
                            "aria-label": "Histogram of the predicted 12-month RMST gain of " +
                            finite.length + " patients, from " + fmt(lo, 2) + " to " +
                            fmt(hi, 2) + " months", id: "histogram-chart"});
  counts.forEach((c, i) => {
    chart.append(svg("rect", {x: x(lo + i * width) + 1, y: y(c), width: Math.max(1, x(lo + width) - x(lo) - 2),
                              height: y(0) - y(c), class: "hist-bar", "data-count": c}));
  });
  chart.append(svg("line", {x1: L, x2: W - R, y1: y(0), y2: y(0), class: "axis"}));
  chart.append(svg("line", {x1: x(mcid), x2: x(mcid), y1: T, y2: y(0), class: "mcid"}));
  chart.append(svg("text", {x: x(mcid) + 4, y: T + 12, class: "tick", text: "MCID " + mcid + " mo"}));
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    chart.append(svg("text", {x: x(v), y: y(0) + 16, class: "tick", "text-anchor": "middle", text: fmt(v, 2)}));
  }
  chart.append(svg("text", {x: L - 6, y: y(top) + 4, class: "tick", "text-anchor": "end", text: String(top)}));
  chart.append(svg("text", {x: L - 6, y: y(0) + 4, class: "tick", "text-anchor": "end", text: "0"}));
  chart.append(svg("text", {x: (L + W - R) / 2, y: H - 4, class: "label", "text-anchor": "middle",
                            text: "predicted 12-month RMST gain, months (patients per bar)"}));
  return chart;
}

document.addEventListener("DOMContentLoaded", start);
