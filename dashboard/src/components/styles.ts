// Styles every page shares. Colours come from the theme's custom properties (public/index.html),
// which inherit through shadow roots.
import { css } from 'lit';

export const base = css`
  :host {
    display: block;
    color: var(--text);
    --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  }
  * { box-sizing: border-box; }
  a { color: var(--accent); text-decoration: none; }
  a:hover { text-decoration: underline; }
  h1 { font-size: 20px; font-weight: 650; margin: 0 0 16px; letter-spacing: -0.01em; }
  h2 { font-size: 13px; font-weight: 600; margin: 0 0 12px; color: var(--text-muted); text-transform: uppercase; letter-spacing: 0.06em; }
  code, .mono { font-family: var(--mono); font-size: 12.5px; }
  .muted { color: var(--text-muted); }
  .card { background: var(--bg-raised); border: 1px solid var(--border); border-radius: 10px; padding: 16px; }
  .grid { display: grid; gap: 16px; }
  .row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  .spacer { flex: 1; }
  button, .button {
    font: inherit; color: var(--text); background: var(--bg-sunken); border: 1px solid var(--border); border-radius: 7px;
    padding: 6px 12px; cursor: pointer; display: inline-flex; align-items: center; gap: 6px;
  }
  button:hover:not(:disabled) { background: var(--bg-hover); }
  button:focus-visible, input:focus-visible, select:focus-visible, a:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
  button.primary { background: var(--accent); color: var(--accent-text); border-color: transparent; font-weight: 600; }
  button:disabled { opacity: 0.5; cursor: not-allowed; }
  input, select {
    font: inherit; color: var(--text); background: var(--bg-sunken); border: 1px solid var(--border); border-radius: 7px; padding: 6px 10px;
  }
  table { border-collapse: collapse; width: 100%; }
  th { text-align: left; font-weight: 600; color: var(--text-muted); font-size: 12px; padding: 6px 8px; border-bottom: 1px solid var(--border); }
  td { padding: 6px 8px; border-bottom: 1px solid var(--border); vertical-align: top; }
  .badge {
    display: inline-flex; align-items: center; gap: 6px; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap;
    background: var(--unknown-bg); color: var(--unknown);
  }
  .badge::before { content: ''; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
  .badge.plain::before { display: none; }
  .s-in_sync, .s-succeeded, .s-accepted, .s-completed, .s-ok { background: var(--ok-bg); color: var(--ok); }
  .s-drifted, .s-paused, .s-partial, .s-warning, .s-timed_out, .s-offline, .s-retrying { background: var(--warn-bg); color: var(--warn); }
  .s-failed, .s-interrupted, .s-rejected, .s-halted, .s-error { background: var(--err-bg); color: var(--err); }
  .s-converging, .s-running, .s-dispatched, .s-progressing, .s-info { background: var(--busy-bg); color: var(--busy); }
  .s-unknown, .s-pending, .s-waiting, .s-cancelled, .s-superseded { background: var(--unknown-bg); color: var(--unknown); }
  .s-awaiting_enrollment { background: var(--bg-sunken); color: var(--text-muted); border: 1px dashed var(--border); }
  .state { padding: 32px 16px; text-align: center; color: var(--text-muted); }
  .state strong { display: block; color: var(--text); font-size: 15px; margin-bottom: 4px; }
  .state.error strong { color: var(--err); }
  .state button { margin-top: 12px; }
  .spinner { width: 18px; height: 18px; border: 2px solid var(--border); border-top-color: var(--accent); border-radius: 50%; animation: spin 0.8s linear infinite; display: inline-block; vertical-align: middle; }
  .skeleton { background: linear-gradient(90deg, var(--bg-sunken), var(--bg-hover), var(--bg-sunken)); background-size: 200% 100%; animation: shimmer 1.4s ease infinite; border-radius: 6px; height: 14px; }
  @keyframes spin { to { transform: rotate(360deg); } }
  @keyframes shimmer { 0% { background-position: 100% 0; } 100% { background-position: -100% 0; } }
  @media (prefers-reduced-motion: reduce) { .spinner, .skeleton { animation: none; } }
  .bar { display: flex; height: 8px; border-radius: 4px; overflow: hidden; background: var(--bg-sunken); }
  .bar > span { display: block; height: 100%; }
  .bar .succeeded, .bar .in_sync { background: var(--ok); }
  .bar .failed { background: var(--err); }
  .bar .offline, .bar .retrying, .bar .drifted { background: var(--warn); }
  .bar .running, .bar .converging { background: var(--busy); }
  .bar .unknown { background: var(--unknown); }
  .bar .awaiting_enrollment { background: var(--border); }
  pre.output { background: var(--bg-sunken); border: 1px solid var(--border); border-radius: 6px; padding: 8px 10px; margin: 6px 0 0; max-height: 240px; overflow: auto; white-space: pre-wrap; word-break: break-word; font: 12px/1.4 var(--mono); }
`;
