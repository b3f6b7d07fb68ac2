// Custom events, typed once. Elements ask the shell to navigate; they never touch history.
export const NAVIGATE = 'dx-navigate';

export type NavigateEvent = CustomEvent<{ path: string }>;

export function navigateEvent(path: string): NavigateEvent {
  return new CustomEvent(NAVIGATE, { detail: { path }, bubbles: true, composed: true });
}

declare global {
  interface HTMLElementEventMap {
    [NAVIGATE]: NavigateEvent;
  }
}
