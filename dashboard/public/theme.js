// Before first paint: the saved theme, else the system's, else dark — no flash of the wrong one.
// A file, not an inline script, so the server's Content-Security-Policy (script-src 'self') holds.
try {
  var t = localStorage.getItem('deployx.theme');
  if (t !== 'light' && t !== 'dark') t = matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
  document.documentElement.dataset.theme = t;
} catch (e) {}
