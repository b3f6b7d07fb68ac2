// The viewer's own preferences, kept in localStorage: theme.
export type Theme = 'dark' | 'light';
const THEME_KEY = 'deployx.theme';

/** The saved choice, else the system's preference, else dark. */
export function initialTheme(): Theme {
  const saved = read(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return globalThis.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export function applyTheme(theme: Theme, save: boolean): void {
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
  if (save) write(THEME_KEY, theme);
}

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}
