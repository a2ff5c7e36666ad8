// The review page: video with the current cue, a waveform with draggable cue edges, and an
// editable cue table. No build step, no library: plain DOM and a <canvas>.
"use strict";

(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const video = $("video"), overlay = $("overlay"), canvas = $("wave"), tbody = document.querySelector("#cue-table tbody");
  const state = {
    job: null, track: null, cues: [], base: [], selected: -1, undo: [], redo: [], dirty: false,
    peaks: { rate: 100, peaks: [] }, view: 0, span: 20, drag: null, editing: -1,
  };

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.headers["X-Review-Token"] = token;
    const response = await fetch(path, opts);
    let data = null;
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    if (!response.ok) { throw new Error(data && data.error ? data.error : response.statusText); }
    return data;
  }

  function say(text, kind) {
    const m = $("message");
    m.textContent = text;
    m.className = kind || "";
  }

  // ---- rules and badges ------------------------------------------------------------
  function rules() { return (state.job && state.job.rules) || {}; }
  function frame() { return 1 / ((state.job && state.job.fps) || 24); }
  function minGap() { return (rules().min_gap_frames || 0) * frame(); }
  const MIN_LENGTH = 0.1;  // seconds: the shortest a dragged cue may become

  function graphemes(text) { return Array.from(text).length; }
  function cps(cue) {
    const chars = graphemes(cue.text.replace(/\n/g, " "));
    return chars / Math.max(cue.end - cue.start, 0.001);
  }
  function liveProblems(cue) {
    const r = rules(), out = [];
    if (r.max_cps && cps(cue) > r.max_cps + 1e-6) out.push("reading speed");
    const lines = cue.text.split("\n");
    if (r.max_lines && lines.length > r.max_lines) out.push("too many lines");
    if (r.max_line_chars && lines.some((l) => graphemes(l) > r.max_line_chars)) out.push("line too long");
    return out;
  }
  function flagged(cue) { return (cue.flags && cue.flags.length > 0) || liveProblems(cue).length > 0; }

  // ---- time text -------------------------------------------------------------------
  function fmt(t) {
    const sign = t < 0 ? "-" : "";
    t = Math.abs(t);
    const m = Math.floor(t / 60), s = t - 60 * m;
    return sign + m + ":" + (s < 10 ? "0" : "") + s.toFixed(3);
  }

  // ---- history ---------------------------------------------------------------------
  function snapshot() { return JSON.stringify({ cues: state.cues, selected: state.selected }); }
  function remember() {
    state.undo.push(snapshot());
    if (state.undo.length > 500) state.undo.shift();
    state.redo = [];
    state.dirty = true;
  }
  function restore(text) {
    const s = JSON.parse(text);
    state.cues = s.cues;
    state.selected = s.selected;
    state.dirty = true;
    renderAll();
  }
  function undo() { if (state.undo.length) { state.redo.push(snapshot()); restore(state.undo.pop()); } }
  function redo() { if (state.redo.length) { state.undo.push(snapshot()); restore(state.redo.pop()); } }

  // ---- the table -------------------------------------------------------------------
  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function highlighted(cue) {
    const low = new Set(cue.low || []);
    let k = -1;
    return cue.text.split(/(\s+)/).map((part) => {
      if (!part.trim()) return escapeHtml(part);
      k += 1;
      return low.has(k) ? '<mark class="low" title="low confidence">' + escapeHtml(part) + "</mark>" : escapeHtml(part);
    }).join("");
  }
  function countWords(text) { return text.split(/\s+/).filter((w) => w).length; }
  function renderTable() {
    const r = rules();
    const onlyFlagged = $("only-flagged").checked;
    const rows = [];
    state.cues.forEach((cue, i) => {
      if (onlyFlagged && !flagged(cue)) return;
      const c = cps(cue);
      const cpsBadge = '<span class="badge' + (r.max_cps && c > r.max_cps + 1e-6 ? " over" : "") + '">' + c.toFixed(1) + "</span>";
      const lineBadges = cue.text.split("\n").map((l) => {
        const n = graphemes(l);
        return '<span class="badge' + (r.max_line_chars && n > r.max_line_chars ? " over" : "") + '">' + n +
          (r.max_line_chars ? "/" + r.max_line_chars : "") + "</span>";
      }).join("");
      const flags = (cue.flags || []).map((f) => '<span class="flag" title="' + escapeHtml(f.message || "") + '">' +
        escapeHtml(f.rule || "") + "</span>").join("") +
        liveProblems(cue).map((p) => '<span class="flag live">' + escapeHtml(p) + "</span>").join("");
      rows.push('<tr data-i="' + i + '" class="' + (i === state.selected ? "selected" : "") + '">' +
        '<td>' + (i + 1) + "</td>" +
        '<td class="time">' + fmt(cue.start) + "</td>" +
        '<td class="time">' + fmt(cue.end) + "</td>" +
        '<td class="text"><div class="text-view" tabindex="0">' + highlighted(cue) + "</div></td>" +
        "<td>" + cpsBadge + "</td><td>" + lineBadges + "</td><td>" + flags + "</td></tr>");
    });
    tbody.innerHTML = rows.join("");
  }

  function startEditing(i, row) {
    const cell = row.querySelector("td.text");
    const area = document.createElement("textarea");
    area.className = "text-edit";
    area.value = state.cues[i].text;
    area.rows = Math.max(2, state.cues[i].text.split("\n").length);
    cell.innerHTML = "";
    cell.appendChild(area);
    state.editing = i;
    area.focus();
    area.addEventListener("blur", () => commitText(i, area));
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        const at = area.selectionStart;
        const value = area.value;
        state.editing = -1;
        splitCue(i, value, at);
      } else if (e.key === "Escape") {
        area.value = state.cues[i].text;
        area.blur();
      }
    });
  }
  function commitText(i, area) {
    if (state.editing !== i) return;
    state.editing = -1;
    const text = area.value.split("\n").map((l) => l.trim().replace(/\s+/g, " ")).filter((l) => l).join("\n");
    if (text && text !== state.cues[i].text) {
      remember();
      state.cues[i].text = text;
      state.cues[i].flags = [];
      state.cues[i].low = [];
    }
    renderAll();
  }

  // ---- editing operations ----------------------------------------------------------
  function select(i, seek) {
    if (i < 0 || i >= state.cues.length) return;
    state.selected = i;
    if (seek) { video.currentTime = state.cues[i].start + 0.001; ensureVisible(state.cues[i].start); }
    renderAll();
    const row = tbody.querySelector('tr[data-i="' + i + '"]');
    if (row) row.scrollIntoView({ block: "nearest" });
  }
  function splitCue(i, text, at) {
    const cue = state.cues[i];
    text = text === undefined ? cue.text : text;
    let head, tail;
    if (at === undefined) {
      // no text cursor: split the words at the playhead's share of the cue
      const words = text.split(/\s+/).filter((w) => w);
      if (words.length < 2) { say("a cue of one word cannot be split", "error"); return; }
      const share = (video.currentTime - cue.start) / (cue.end - cue.start);
      const n = Math.min(words.length - 1, Math.max(1, Math.round(words.length * (share > 0 && share < 1 ? share : 0.5))));
      head = words.slice(0, n).join(" ");
      tail = words.slice(n).join(" ");
    } else {
      head = text.slice(0, at).trim();
      tail = text.slice(at).trim();
    }
    if (!head || !tail) { say("put the text cursor between two words to split", "error"); renderAll(); return; }
    const t = video.currentTime;
    let cut = t > cue.start + MIN_LENGTH && t < cue.end - MIN_LENGTH ? t
      : cue.start + (cue.end - cue.start) * graphemes(head) / graphemes(head + tail);
    const gap = Math.min(minGap(), (cue.end - cue.start) / 4);
    remember();
    const n = countWords(head), low = text === cue.text ? cue.low || [] : [];
    const first = Object.assign({}, cue, { text: head.replace(/\s*\n\s*/g, "\n"), end: cut - gap / 2, flags: [],
      low: low.filter((k) => k < n) });
    const second = Object.assign({}, cue, { text: tail.replace(/\s*\n\s*/g, "\n"), start: cut + gap / 2, flags: [],
      low: low.filter((k) => k >= n).map((k) => k - n) });
    state.cues.splice(i, 1, first, second);
    state.selected = i + 1;
    say("split cue " + (i + 1));
    renderAll();
  }
  function mergeNext(i) {
    if (i < 0 || i + 1 >= state.cues.length) return;
    remember();
    const a = state.cues[i], b = state.cues[i + 1];
    const origin = Array.from(new Set(a.origin.concat(b.origin))).sort((x, y) => x - y);
    state.cues.splice(i, 2, { start: a.start, end: b.end, text: a.text.replace(/\n/g, " ") + "\n" + b.text.replace(/\n/g, " "),
      origin: origin, flags: [],
      low: (a.low || []).concat((b.low || []).map((k) => k + countWords(a.text))) });
    state.selected = i;
    renderAll();
  }
  function insertCue() {
    const t = video.currentTime;
    let i = state.cues.findIndex((c) => c.start > t);
    if (i < 0) i = state.cues.length;
    const prevEnd = i > 0 ? state.cues[i - 1].end + minGap() : 0;
    const nextStart = i < state.cues.length ? state.cues[i].start - minGap() : t + 2;
    const start = Math.max(t, prevEnd), end = Math.min(start + 2, nextStart);
    if (end - start < MIN_LENGTH) { say("no room for a cue here: move the playhead into a gap", "error"); return; }
    remember();
    state.cues.splice(i, 0, { start: start, end: end, text: "new cue", origin: [], flags: [], low: [] });
    state.selected = i;
    renderAll();
  }
  function deleteCue(i) {
    if (i < 0 || i >= state.cues.length) return;
    remember();
    state.cues.splice(i, 1);
    state.selected = Math.min(i, state.cues.length - 1);
    renderAll();
  }
  function clampEdge(i, edge, t) {
    const cue = state.cues[i];
    if (edge === "start") {
      const low = i > 0 ? state.cues[i - 1].end + minGap() : 0;
      return Math.min(Math.max(t, low), cue.end - MIN_LENGTH);
    }
    const high = i + 1 < state.cues.length ? state.cues[i + 1].start - minGap() : Infinity;
    return Math.max(Math.min(t, high), cue.start + MIN_LENGTH);
  }
  function nudge(edge, frames) {
    const i = state.selected;
    if (i < 0) return;
    remember();
    const t = state.cues[i][edge] + frames * frame();
    state.cues[i][edge] = Math.round(clampEdge(i, edge, t) * 1000) / 1000;
    renderAll();
  }

  // ---- saving ----------------------------------------------------------------------
  async function save() {
    const cues = state.cues.map((c) => ({ start: Math.round(c.start * 1000) / 1000, end: Math.round(c.end * 1000) / 1000,
      text: c.text, origin: c.origin }));
    try {
      const result = await api("api/track/" + encodeURIComponent(state.track) + "/edits", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ cues: cues }) });
      state.dirty = false;
      say("saved " + result.changes + " changes to " + result.saved + ": run make subtitle to apply them" +
        (result.dropped ? " (" + result.dropped + " old edits that could not be placed were dropped; the previous file is kept as .prev.json)" : ""),
        "ok");
    } catch (e) {
      say(e.message, "error");
    }
  }

  // ---- waveform --------------------------------------------------------------------
  function xOf(t) { return (t - state.view) / state.span * canvas.width; }
  function tOf(x) { return state.view + x / canvas.width * state.span; }
  function ensureVisible(t) {
    if (t < state.view || t > state.view + state.span * 0.9) state.view = Math.max(0, t - state.span * 0.2);
  }
  function drawWave() {
    const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    state.cues.forEach((cue, i) => {
      const x0 = xOf(cue.start), x1 = xOf(cue.end);
      if (x1 < 0 || x0 > w) return;
      ctx.fillStyle = i === state.selected ? "rgba(59,125,221,0.45)" : flagged(cue) ? "rgba(230,120,40,0.30)" : "rgba(90,160,110,0.30)";
      ctx.fillRect(x0, 0, x1 - x0, h);
      ctx.fillStyle = "#e6e6e6";
      ctx.fillRect(x0 - 1, 0, 2, h);
      ctx.fillRect(x1 - 1, 0, 2, h);
      ctx.fillStyle = "#fff";
      ctx.font = "11px sans-serif";
      ctx.fillText(String(i + 1), x0 + 3, 12);
    });
    const peaks = state.peaks.peaks, rate = state.peaks.rate;
    ctx.fillStyle = "#8fd3ff";
    for (let x = 0; x < w; x++) {
      const a = Math.floor(tOf(x) * rate), b = Math.max(a + 1, Math.floor(tOf(x + 1) * rate));
      let p = 0;
      for (let k = Math.max(0, a); k < Math.min(b, peaks.length); k++) p = Math.max(p, peaks[k]);
      const y = p / 255 * (h / 2 - 14);
      ctx.fillRect(x, h / 2 + 7 - y, 1, 2 * y + 1);
    }
    const px = xOf(video.currentTime);
    ctx.fillStyle = "#ff5252";
    ctx.fillRect(px - 1, 0, 2, h);
  }
  function canvasX(event) {
    const box = canvas.getBoundingClientRect();
    return (event.clientX - box.left) * canvas.width / box.width;
  }
  function edgeAt(x) {
    const tolerance = 6 * canvas.width / canvas.getBoundingClientRect().width;
    let best = null;
    state.cues.forEach((cue, i) => {
      for (const edge of ["start", "end"]) {
        const d = Math.abs(xOf(cue[edge]) - x);
        if (d <= tolerance && (!best || d < best.d)) best = { i: i, edge: edge, d: d };
      }
    });
    return best;
  }
  canvas.addEventListener("mousedown", (event) => {
    const x = canvasX(event), edge = edgeAt(x);
    if (edge) {
      state.drag = { i: edge.i, edge: edge.edge, before: snapshot(), moved: false };
      state.selected = edge.i;
      event.preventDefault();
    } else {
      const t = Math.max(0, tOf(x));
      video.currentTime = t;
      const i = state.cues.findIndex((c) => c.start <= t && t < c.end);
      if (i >= 0) state.selected = i;
      renderAll();
    }
  });
  window.addEventListener("mousemove", (event) => {
    if (!state.drag) {
      canvas.style.cursor = edgeAt(canvasX(event)) ? "ew-resize" : "crosshair";
      return;
    }
    const d = state.drag;
    const t = clampEdge(d.i, d.edge, tOf(canvasX(event)));
    state.cues[d.i][d.edge] = Math.round(t * 1000) / 1000;
    d.moved = true;
    drawWave();
  });
  window.addEventListener("mouseup", () => {
    const d = state.drag;
    if (!d) return;
    state.drag = null;
    if (d.moved) {
      state.undo.push(d.before);
      state.redo = [];
      state.dirty = true;
      state.cues[d.i].flags = [];
    }
    renderAll();
  });

  // ---- playback --------------------------------------------------------------------
  function currentIndex() {
    const t = video.currentTime;
    return state.cues.findIndex((c) => c.start <= t && t < c.end);
  }
  let lastCurrent = -2;
  function tick() {
    const i = currentIndex();
    overlay.textContent = i >= 0 ? state.cues[i].text : "";
    $("clock").textContent = fmt(video.currentTime);
    if (!video.paused) ensureVisible(video.currentTime);
    if (i !== lastCurrent) {
      tbody.querySelectorAll("tr.current").forEach((r) => r.classList.remove("current"));
      const row = tbody.querySelector('tr[data-i="' + i + '"]');
      if (row) row.classList.add("current");
      lastCurrent = i;
    }
    if (!state.drag) drawWave();
    requestAnimationFrame(tick);
  }

  function renderAll() {
    renderTable();
    drawWave();
    lastCurrent = -2;
  }

  // ---- loading ---------------------------------------------------------------------
  async function loadTrack(name) {
    if (state.dirty && !confirm("Discard the unsaved changes of " + state.track + "?")) {
      $("track").value = state.track;
      return;
    }
    const data = await api("api/track/" + encodeURIComponent(name));
    state.track = name;
    state.base = data.base;
    state.cues = data.cues;
    state.undo = [];
    state.redo = [];
    state.dirty = false;
    state.selected = -1;
    const unplaced = (data.unplaced_last_run || []).concat(data.unplaced_now || []);
    $("unplaced").textContent = unplaced.length ? unplaced.length + " saved edits could not be placed on the current cues: " +
      unplaced.map((c) => '"' + c.from.map((f) => f.text.replace(/\n/g, " ")).join(" | ") + '" (' + c.reason + ")").join("; ") : "";
    say(data.edits ? data.edits + " saved edits shown" : "");
    renderAll();
  }

  async function start() {
    state.job = await api("api/job");
    $("job-name").textContent = state.job.name || state.job.job;
    document.title = "Review: " + (state.job.name || state.job.job);
    const select = $("track");
    select.innerHTML = state.job.tracks.map((t) => '<option value="' + escapeHtml(t.track) + '">' + escapeHtml(t.track) +
      " (" + escapeHtml(t.role) + ")</option>").join("");
    if (state.job.media) video.src = "media";
    if (!state.job.video) video.poster = "";
    try { state.peaks = await api("api/peaks"); } catch (e) { say("no waveform: " + e.message, "error"); }
    if (state.job.tracks.length) await loadTrack(state.job.tracks[0].track);
    requestAnimationFrame(tick);
  }

  // ---- wiring ----------------------------------------------------------------------
  $("track").addEventListener("change", (e) => loadTrack(e.target.value).catch((err) => say(err.message, "error")));
  $("save").addEventListener("click", save);
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("split").addEventListener("click", () => { if (state.selected >= 0) splitCue(state.selected); });
  $("merge").addEventListener("click", () => mergeNext(state.selected));
  $("insert").addEventListener("click", insertCue);
  $("delete").addEventListener("click", () => deleteCue(state.selected));
  $("only-flagged").addEventListener("change", renderTable);
  $("zoom-in").addEventListener("click", () => { state.span = Math.max(2, state.span / 2); drawWave(); });
  $("zoom-out").addEventListener("click", () => { state.span = Math.min(600, state.span * 2); drawWave(); });
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr");
    if (!row) return;
    const i = Number(row.dataset.i);
    if (event.target.closest(".text-view")) {
      if (state.selected !== i) { state.selected = i; video.currentTime = state.cues[i].start + 0.001; ensureVisible(state.cues[i].start); }
      tbody.querySelectorAll("tr.selected").forEach((r) => r.classList.remove("selected"));
      row.classList.add("selected");
      startEditing(i, row);
    } else if (!event.target.closest("textarea")) {
      select(i, true);
    }
  });
  document.addEventListener("keydown", (e) => {
    const inText = e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT" || e.target.tagName === "SELECT";
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && e.key.toLowerCase() === "s") { e.preventDefault(); if (e.target.blur) e.target.blur(); save(); return; }
    if (inText) return;
    if (ctrl && e.key.toLowerCase() === "z") { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
    if (ctrl && e.key.toLowerCase() === "y") { e.preventDefault(); redo(); return; }
    if (e.altKey && e.code === "KeyM") { e.preventDefault(); mergeNext(state.selected); return; }
    if (e.altKey && e.code === "KeyI") { e.preventDefault(); insertCue(); return; }
    if (e.altKey && e.code === "KeyD") { e.preventDefault(); deleteCue(state.selected); return; }
    if (ctrl || e.altKey) return;
    if (e.key === " ") { e.preventDefault(); if (video.paused) video.play(); else video.pause(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); select(Math.max(0, (state.selected < 0 ? currentIndex() : state.selected) - 1), true); }
    else if (e.key === "ArrowDown") { e.preventDefault(); select(Math.min(state.cues.length - 1, (state.selected < 0 ? currentIndex() : state.selected) + 1), true); }
    else if (e.key === "[") nudge("start", -1);
    else if (e.key === "]") nudge("start", 1);
    else if (e.key === "{") nudge("end", -1);
    else if (e.key === "}") nudge("end", 1);
  });
  window.addEventListener("beforeunload", (e) => { if (state.dirty) { e.preventDefault(); e.returnValue = ""; } });

  // A read-only view for tests and the curious: where a cue's edge is drawn, the cues.
  window.review = {
    state: state,
    edgeX: (i, edge) => { const box = canvas.getBoundingClientRect(); return xOf(state.cues[i][edge]) * box.width / canvas.width; },
    setView: (t, span) => { state.view = t; if (span) state.span = span; drawWave(); },
  };
  start().catch((e) => say(e.message, "error"));
})();
