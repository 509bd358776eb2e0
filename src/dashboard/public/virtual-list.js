// A list that keeps in the DOM only the rows in view (plus a few): rows have one fixed height and
// are reused as the list scrolls or changes, so 1,000 entries cost about as much as 20.

const OVERSCAN = 4;

export class VirtualList {
  /**
   * @param {HTMLElement} viewport  scrolls; its height is set by CSS
   * @param {object} options
   * @param {number} options.rowHeight  pixels
   * @param {() => HTMLElement} options.create  a new, empty row
   * @param {(row: HTMLElement, index: number) => void} options.update  fill a row for the entry at index
   * @param {() => void} options.onScroll  asks for a redraw (the page batches them per frame)
   */
  constructor(viewport, { rowHeight, create, update, onScroll }) {
    this.viewport = viewport;
    this.rowHeight = rowHeight;
    this.create = create;
    this.update = update;
    this.count = 0;
    /** @type {HTMLElement[]} */
    this.rows = [];
    this.spacer = document.createElement('div');
    this.spacer.className = 'vlist-spacer';
    viewport.append(this.spacer);
    viewport.addEventListener('scroll', onScroll, { passive: true });
  }

  /** The index range in view (end exclusive). */
  range() {
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || this.rowHeight * 10;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - OVERSCAN);
    const end = Math.min(this.count, Math.ceil((top + height) / this.rowHeight) + OVERSCAN);
    return { first, end: Math.max(first, end) };
  }

  /** Draw the rows in view for a list of `count` entries. */
  render(count) {
    this.count = count;
    const height = `${count * this.rowHeight}px`;
    if (this.spacer.style.height !== height) this.spacer.style.height = height;
    const { first, end } = this.range();
    const needed = end - first;
    while (this.rows.length < needed) {
      const row = this.create();
      row.classList.add('vrow');
      row.style.height = `${this.rowHeight}px`;
      this.viewport.append(row);
      this.rows.push(row);
    }
    while (this.rows.length > needed) this.rows.pop()?.remove();
    for (let k = 0; k < needed; k++) {
      const row = this.rows[k];
      const index = first + k;
      const y = `translateY(${index * this.rowHeight}px)`;
      if (row.style.transform !== y) row.style.transform = y;
      this.update(row, index);
    }
  }
}

/**
 * Set an element's text only when it differs from what it shows (no layout work otherwise).
 * @param {Element} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
