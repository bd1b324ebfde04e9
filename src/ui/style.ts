/** The UI's stylesheet, served at /ui/static/ui.css (compiled with the server: no client build step). */
export const STYLESHEET = `
:root { --fg:#1d2330; --muted:#5d6778; --line:#dde2ea; --bg:#f6f8fb; --accent:#2453c7; --danger:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { background:#172038; color:#fff; padding:.7rem 1.5rem; display:flex; gap:1.5rem; align-items:center; }
header a { color:#fff; text-decoration:none; font-weight:600; }
header .who { margin-left:auto; color:#c9d3ea; font-size:.9rem; }
main { max-width:1100px; margin:1.5rem auto; padding:0 1.5rem; }
h1 { font-size:1.4rem; margin:.2rem 0 1rem; word-break:break-all; }
h2 { font-size:1.1rem; margin:1.6rem 0 .6rem; }
a { color:var(--accent); }
nav.crumbs { font-size:.9rem; color:var(--muted); margin-bottom:.3rem; }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:.45rem .7rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f6; font-weight:600; font-size:.85rem; color:var(--muted); }
td.num { text-align:right; white-space:nowrap; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; }
code.digest { word-break:break-all; }
pre { background:#fff; border:1px solid var(--line); padding:.6rem .8rem; overflow-x:auto; margin:.3rem 0; }
form.inline { display:inline; }
input[type=search], input[type=text] { padding:.4rem .6rem; border:1px solid #b8c1cf; border-radius:4px; font:inherit; min-width:18rem; }
form.kconfig input[type=text] { min-width:30rem; }
form.search, form.kconfig { margin-bottom:1rem; }
table.matrix tbody th { vertical-align:middle; }
button, .button { padding:.35rem .8rem; border:1px solid #b8c1cf; border-radius:4px; background:#fff; font:inherit; cursor:pointer; text-decoration:none; color:var(--fg); }
button.danger, .button.danger { border-color:var(--danger); color:var(--danger); }
button.danger.solid { background:var(--danger); color:#fff; }
.pager { margin:.8rem 0; display:flex; gap:1rem; align-items:center; color:var(--muted); }
.muted { color:var(--muted); }
.empty { padding:1rem; color:var(--muted); background:#fff; border:1px dashed var(--line); }
.notice { padding:.7rem 1rem; border-radius:4px; background:#e8f0ff; border:1px solid #b9cdf5; margin:1rem 0; }
.error { padding:.7rem 1rem; border-radius:4px; background:#fdecea; border:1px solid #f1b5ad; margin:1rem 0; }
.chip { display:inline-block; padding:.05rem .45rem; margin:.1rem; border-radius:3px; background:#eef1f6; font-family:ui-monospace, monospace; font-size:.8rem; }
.chip.add { background:#e3f6e8; } .chip.del { background:#fde7e5; }
table.matrix td, table.matrix th { text-align:center; }
.pulls { display:grid; grid-template-columns: 6rem 1fr; gap:.2rem .8rem; align-items:center; }
.actions { margin:1rem 0; display:flex; gap:.6rem; }
dl.kv { display:grid; grid-template-columns: 12rem 1fr; gap:.2rem 1rem; background:#fff; border:1px solid var(--line); padding:.7rem 1rem; margin:0; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; word-break:break-all; }
`;

/** The UI's own script, served at /ui/static/ui.js: the Copy buttons (no inline script, so the CSP can forbid it). */
export const SCRIPT = `
document.addEventListener('click', function (e) {
  var b = e.target.closest && e.target.closest('button.copy');
  if (!b) return;
  var code = b.previousElementSibling;
  if (code && navigator.clipboard) navigator.clipboard.writeText(code.textContent).then(function () { b.textContent = 'Copied'; });
});
`;
