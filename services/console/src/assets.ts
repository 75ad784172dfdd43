/**
 * The console's only stylesheet and script, served from its own origin so that the Content-Security-Policy can
 * forbid inline code. The script is progressive: every page works without it; with it, lists follow the live
 * event stream (Server-Sent Events) and times read as relative.
 */
export const consoleCss = `
:root { --fg:#1c2430; --muted:#5b6675; --bg:#f5f6f8; --card:#fff; --line:#dde1e7; --accent:#1f5fbf; --ok:#1d7a46; --bad:#b3261e; --warn:#8a5a00; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header.top { display:flex; flex-wrap:wrap; align-items:center; gap:.5rem 1.25rem; padding:.6rem 1rem; background:#14233a; color:#fff; }
header.top a { color:#dbe6f7; text-decoration:none; }
header.top a[aria-current="page"] { color:#fff; border-bottom:2px solid #8fb4ff; }
.brand { font-weight:700; color:#fff !important; }
header.top nav { display:flex; flex-wrap:wrap; gap:.25rem 1rem; flex:1; }
.who { display:flex; gap:.6rem; align-items:center; margin:0; font-size:.9rem; }
button.link { background:none; border:0; color:#dbe6f7; text-decoration:underline; cursor:pointer; font:inherit; padding:0; }
main { max-width:1200px; margin:0 auto; padding:1rem; }
h1 { font-size:1.4rem; margin:.2rem 0 1rem; } h2 { font-size:1.1rem; margin:0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:1rem; margin:0 0 1rem; }
.card.narrow { max-width:560px; margin:2rem auto; }
.card > header { display:flex; justify-content:space-between; align-items:center; gap:.5rem; flex-wrap:wrap; margin-bottom:.5rem; }
.facts { display:grid; grid-template-columns:max-content 1fr; gap:.25rem 1rem; margin:.5rem 0; }
.facts dt { color:var(--muted); } .facts dd { margin:0; overflow-wrap:anywhere; }
pre.sql-block { background:#0f1722; color:#e6edf3; padding:.75rem; border-radius:6px; overflow-x:auto; white-space:pre-wrap; word-break:break-word; margin:.5rem 0; }
.sql .k { color:#79b8ff; font-weight:600; } .sql .s { color:#9ecb8f; } .sql .n { color:#f2cc60; } .sql .c { color:#8b949e; font-style:italic; } .sql .i { color:#d2a8ff; }
.state { display:inline-block; padding:.05rem .5rem; border-radius:99px; font-size:.8rem; background:#e8ecf2; }
.state.pending, .state.running, .state.revoking { background:#fff1cc; color:var(--warn); }
.state.granted, .state.completed, .state.active { background:#d9f2e3; color:var(--ok); }
.state.denied, .state.failed, .state.expired, .state.irrevocable { background:#fbe0de; color:var(--bad); }
.decision.deny { color:var(--bad); } .decision.allow { color:var(--ok); } .decision.approval-required { color:var(--warn); }
.decide { display:flex; flex-wrap:wrap; gap:.75rem 2rem; border-top:1px solid var(--line); padding-top:.75rem; }
.decide form { display:flex; flex-wrap:wrap; gap:.5rem; align-items:end; }
label { display:flex; flex-direction:column; gap:.15rem; font-size:.85rem; color:var(--muted); }
input, select { font:inherit; padding:.35rem .5rem; border:1px solid #b9c1cc; border-radius:5px; min-width:0; }
button, .button { font:inherit; padding:.4rem .9rem; border-radius:5px; border:1px solid #9aa6b5; background:#fff; cursor:pointer; color:var(--fg); text-decoration:none; display:inline-block; }
button.primary, .button { background:var(--accent); border-color:var(--accent); color:#fff; }
button.danger { background:var(--bad); border-color:var(--bad); color:#fff; }
.actions { display:flex; flex-wrap:wrap; gap:.75rem; }
.flash { padding:.6rem .8rem; border-radius:6px; } .flash.ok { background:#d9f2e3; } .flash.error { background:#fbe0de; }
.note { color:var(--warn); } .empty, .hint { color:var(--muted); }
.filters { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:end; }
.scroll { overflow-x:auto; }
table.grid { border-collapse:collapse; width:100%; background:var(--card); font-size:.9rem; }
table.grid th, table.grid td { text-align:left; padding:.35rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
.timeline { list-style:none; padding:0; margin:0; border-left:3px solid var(--line); }
.timeline .step { margin-left:1rem; } .offset { font-family:ui-monospace, monospace; color:var(--muted); }
.step > header { justify-content:flex-start; gap:1rem; }
.verify.ok { border-left:6px solid var(--ok); } .verify.bad { border-left:6px solid var(--bad); } .verify.warn { border-left:6px solid var(--warn); }
.live-dot { display:inline-block; width:.6rem; height:.6rem; border-radius:50%; background:#b9c1cc; vertical-align:middle; }
body.live-on .live-dot { background:var(--ok); }
@media (max-width: 640px) {
  main { padding:.6rem; } .facts { grid-template-columns:1fr; } .facts dt { margin-top:.35rem; }
  .decide form, .filters { flex-direction:column; align-items:stretch; }
}
`;

export const consoleJs = `'use strict';
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]');
  function relative(el) {
    var t = Date.parse(el.getAttribute('datetime'));
    if (isNaN(t)) return;
    var s = Math.round((t - Date.now()) / 1000), a = Math.abs(s), text;
    if (a < 60) text = a + ' s'; else if (a < 3600) text = Math.round(a / 60) + ' min'; else if (a < 86400) text = Math.round(a / 3600) + ' h'; else text = Math.round(a / 86400) + ' d';
    if (!el.title) el.title = el.textContent;
    el.textContent = s <= 0 ? text + ' ago' : 'in ' + text;
  }
  function tick() { document.querySelectorAll('time[data-relative]').forEach(relative); }
  tick();
  setInterval(tick, 5000);

  var topic = document.body.getAttribute('data-live');
  if (!topic || !window.EventSource) return;
  var pending = false, busy = false;
  function refresh() {
    var box = document.querySelector('[data-fragment]');
    if (!box) return;
    if (busy || box.contains(document.activeElement) && document.activeElement.tagName === 'INPUT') { pending = true; return; }
    busy = true; pending = false;
    fetch(box.getAttribute('data-fragment'), { credentials: 'same-origin', headers: { 'x-csrf-token': csrf ? csrf.content : '' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) { if (text !== null) { box.innerHTML = text; tick(); } })
      .catch(function () { pending = true; })
      .then(function () { busy = false; if (pending) setTimeout(refresh, 500); });
  }
  document.addEventListener('focusout', function () { if (pending) setTimeout(refresh, 300); });
  var source = new EventSource('/live?topic=' + encodeURIComponent(topic));
  source.addEventListener('open', function () { document.body.classList.add('live-on'); });
  source.addEventListener('error', function () { document.body.classList.remove('live-on'); });
  source.addEventListener('ready', function () { document.body.classList.add('live-on'); document.body.setAttribute('data-live-ready', '1'); });
  source.addEventListener('change', function () { refresh(); });
  source.addEventListener('event', function (m) {
    var rows = document.getElementById('event-rows');
    if (!rows) return;
    var e = JSON.parse(m.data), tr = document.createElement('tr');
    [e.time, e.type, e.subject || '', e.sessionId || ''].forEach(function (v, i) {
      var td = document.createElement('td');
      if (i === 0 && v) { var t = document.createElement('time'); t.setAttribute('datetime', v); t.setAttribute('data-relative', ''); t.textContent = v; td.appendChild(t); relative(t); }
      else td.textContent = v || '';
      tr.appendChild(td);
    });
    tr.className = 'fresh';
    rows.insertBefore(tr, rows.firstChild);
    while (rows.children.length > 200) rows.removeChild(rows.lastChild);
  });
  window.addEventListener('pagehide', function () { source.close(); });
})();
`;

export const faviconSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#14233a"/><path d="M9 23V13a7 7 0 0 1 14 0v10" fill="none" stroke="#8fb4ff" stroke-width="3"/><rect x="7" y="17" width="18" height="10" rx="2" fill="#8fb4ff"/></svg>`;
