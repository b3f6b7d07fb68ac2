// Which rows of a fixed-row-height list are on screen. The devices table renders only these, so
// 10,000 rows cost as much DOM as forty.

export interface WindowInput {
  scrollTop: number;
  viewportHeight: number;
  rowHeight: number;
  total: number;
  /** Rows rendered beyond each edge, so a fast scroll does not show blank space. */
  overscan: number;
}

export interface VisibleWindow {
  /** First row index rendered (inclusive). */
  start: number;
  /** Last row index rendered (exclusive). */
  end: number;
  /** translateY of the first rendered row. */
  offsetTop: number;
  /** Height of the whole list: the scrollbar's extent. */
  totalHeight: number;
}

export function visibleWindow(input: WindowInput): VisibleWindow {
  const rowHeight = Math.max(1, input.rowHeight);
  const total = Math.max(0, Math.floor(input.total));
  const totalHeight = total * rowHeight;
  const maxScroll = Math.max(0, totalHeight - input.viewportHeight);
  const scrollTop = Math.min(Math.max(0, input.scrollTop), maxScroll);
  const first = Math.floor(scrollTop / rowHeight);
  const visible = Math.ceil(Math.max(0, input.viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, first - input.overscan);
  const end = Math.min(total, first + visible + input.overscan);
  return { start, end: Math.max(start, end), offsetTop: start * rowHeight, totalHeight };
}
