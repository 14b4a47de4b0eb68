// The workspace's columns, in its order and with its names, and their cards, drawn from the store, and
// the ways a card moves: HTML5 drag and drop, Alt+arrow keys on a focused card, and the column picker on
// the card (touch screens). Cards are kept per task id and updated in place, so focus and an ongoing
// drag survive a re-render; when an admin changes the columns they are drawn again around the same cards.

import { typingText } from "./people.js";

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key in node && !key.includes("-")) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

export class BoardView {
  // actions: {move(taskId, status, index), edit(taskId), toggle(taskId, completed), remove(taskId)}
  constructor(root, store, actions, { canWrite }) {
    this.root = root;
    this.store = store;
    this.actions = actions;
    this.canWrite = canWrite;
    this.cards = new Map();
    this.lists = new Map();
    this.counts = new Map();
    this.dragging = null;
    this.dirty = false;
    this.drawn = null; // the columns the sections were built for
    this.placeholder = element("li", { class: "drop-placeholder", "aria-hidden": "true" });
    this.listening = new AbortController();
    this.build();
    this.render();
  }

  get columns() {
    return this.store.columns;
  }

  build() {
    this.buildColumns();
    const options = { signal: this.listening.signal };
    this.root.addEventListener("keydown", (e) => this.onKeyDown(e), options);
    this.root.addEventListener("click", (e) => this.onClick(e), options);
    this.root.addEventListener("change", (e) => this.onChange(e), options);
    if (this.canWrite) {
      this.root.addEventListener("dragstart", (e) => this.onDragStart(e), options);
      this.root.addEventListener("dragend", () => this.onDragEnd(), options);
      this.root.addEventListener("dragover", (e) => this.onDragOver(e), options);
      this.root.addEventListener("drop", (e) => this.onDrop(e), options);
    }
  }

  // One section per column; the cards stay (render puts them back into their lists), and each card's
  // column picker lists the columns anew.
  buildColumns() {
    for (const list of this.lists.values()) list.closest(".column").remove();
    this.lists.clear();
    this.counts.clear();
    const columns = this.columns;
    for (const column of columns) {
      const headingId = `column-${column.key}`;
      const count = element("span", { class: "count" });
      const heading = element("h2", { id: headingId }, column.name, " ", count);
      const list = element("ol", { class: "cards", "aria-labelledby": headingId });
      list.dataset.status = column.key;
      const classes = `column column-${column.key}${column.done ? " is-done" : ""}`;
      const section = element("section", { class: classes }, heading, list);
      section.dataset.status = column.key;
      this.root.append(section);
      this.lists.set(column.key, list);
      this.counts.set(column.key, count);
    }
    this.root.style.setProperty("--columns", String(columns.length));
    for (const card of this.cards.values()) this.fillPicker(card._parts.column);
    this.drawn = JSON.stringify(columns);
  }

  fillPicker(select) {
    select.replaceChildren(...this.columns.map((c) => element("option", { value: c.key, text: c.name })));
  }

  // Another board opens in the same element: this one's columns and listeners go.
  dispose() {
    this.listening.abort();
    for (const list of this.lists.values()) list.closest(".column").remove();
  }

  render() {
    if (this.dragging) {
      this.dirty = true; // moving the dragged card now would cancel the drag
      return;
    }
    const focused = document.activeElement;
    if (JSON.stringify(this.columns) !== this.drawn) this.buildColumns();
    const live = new Set();
    for (const column of this.columns) {
      const list = this.lists.get(column.key);
      const tasks = this.store.column(column.key);
      this.counts.get(column.key).textContent = `(${tasks.length})`;
      tasks.forEach((task, index) => {
        live.add(task.id);
        const card = this.cardFor(task);
        if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
      });
      list.classList.toggle("empty", tasks.length === 0);
    }
    for (const [id, card] of this.cards) {
      if (!live.has(id)) {
        card.remove();
        this.cards.delete(id);
      }
    }
    // Re-inserting a node drops its focus; give it back.
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
  }

  cardFor(task) {
    let card = this.cards.get(task.id);
    if (!card) {
      card = this.createCard(task.id);
      this.cards.set(task.id, card);
    }
    const parts = card._parts;
    card.classList.toggle("completed", task.completed);
    card.dataset.status = task.status;
    parts.title.textContent = task.title;
    parts.description.textContent = task.description || "";
    parts.description.hidden = !task.description;
    parts.check.checked = task.completed;
    parts.check.setAttribute("aria-label", `Completed: ${task.title}`);
    parts.column.value = task.status;
    parts.columnLabel.textContent = `Column of ${task.title}`;
    parts.edit.setAttribute("aria-label", `${this.canWrite ? "Edit" : "View"} ${task.title}`);
    parts.remove.setAttribute("aria-label", `Delete ${task.title}`);
    parts.done.hidden = !task.completed;
    const typing = typingText(this.store.typistsOf(task.id));
    parts.typing.textContent = typing;
    parts.typing.hidden = !typing;
    return card;
  }

  createCard(taskId) {
    const titleId = `card-title-${taskId}`;
    const check = element("input", { type: "checkbox", class: "card-check", disabled: !this.canWrite });
    const title = element("h3", { class: "card-title", id: titleId });
    const done = element("span", { class: "done-tag", text: "Done" });
    const description = element("p", { class: "card-description" });
    const typing = element("p", { class: "typing" });
    const columnId = `card-column-${taskId}`;
    const columnLabelNode = element("label", { class: "visually-hidden", for: columnId });
    const column = element("select", { class: "card-column", id: columnId, disabled: !this.canWrite });
    this.fillPicker(column);
    const edit = element("button", { type: "button", class: "card-edit button-quiet", text: this.canWrite ? "Edit" : "View" });
    const remove = element("button", { type: "button", class: "card-delete button-quiet", text: "Delete" });
    remove.hidden = column.hidden = !this.canWrite; // a viewer opens the editor read-only
    const card = element(
      "li",
      {
        class: "card",
        tabindex: "0",
        draggable: this.canWrite,
        "aria-labelledby": titleId,
        "aria-describedby": "move-help",
      },
      element("div", { class: "card-main" }, check, title, done),
      description,
      typing,
      element("div", { class: "card-actions" }, columnLabelNode, column, edit, remove),
    );
    card.dataset.taskId = taskId;
    card._parts = { check, title, done, description, typing, column, columnLabel: columnLabelNode, edit, remove };
    return card;
  }

  // --- pointer and form controls -----------------------------------------------------------------

  taskIdOf(node) {
    const card = node.closest && node.closest(".card");
    return card ? card.dataset.taskId : null;
  }

  onClick(event) {
    const taskId = this.taskIdOf(event.target);
    if (!taskId) return;
    if (event.target.closest(".card-edit")) this.actions.edit(taskId);
    else if (event.target.closest(".card-delete")) this.actions.remove(taskId);
  }

  onChange(event) {
    const taskId = this.taskIdOf(event.target);
    if (!taskId) return;
    if (event.target.classList.contains("card-check")) this.actions.toggle(taskId, event.target.checked);
    else if (event.target.classList.contains("card-column")) {
      this.actions.move(taskId, event.target.value, Infinity);
    }
  }

  // --- keyboard ----------------------------------------------------------------------------------

  onKeyDown(event) {
    const card = event.target;
    if (!card.classList || !card.classList.contains("card")) return;
    const moves = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const [dx, dy] = moves[event.key];
    const taskId = card.dataset.taskId;
    const task = this.store.tasks.get(taskId);
    if (!task) return;
    const columns = this.columns;
    const columnIndex = columns.findIndex((c) => c.key === task.status);
    const column = this.store.column(task.status);
    const index = column.findIndex((t) => t.id === taskId);
    if (event.altKey && this.canWrite) {
      if (dy !== 0) {
        const target = index + dy;
        if (target >= 0 && target < column.length) this.actions.move(taskId, task.status, target);
      } else {
        const next = columns[columnIndex + dx];
        if (next) this.actions.move(taskId, next.key, index);
      }
      return;
    }
    // Without Alt the arrows walk between cards.
    let target = null;
    if (dy !== 0) target = column[index + dy];
    else {
      for (let c = columnIndex + dx; c >= 0 && c < columns.length && !target; c += dx) {
        const other = this.store.column(columns[c].key);
        target = other[Math.min(index, other.length - 1)];
      }
    }
    if (target) this.cards.get(target.id)?.focus();
  }

  // --- drag and drop -----------------------------------------------------------------------------

  onDragStart(event) {
    const card = event.target.closest && event.target.closest(".card");
    if (!card) return;
    this.dragging = card.dataset.taskId;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", this.dragging);
    card.classList.add("dragging");
  }

  onDragEnd() {
    const card = this.cards.get(this.dragging);
    if (card) card.classList.remove("dragging");
    this.placeholder.remove();
    this.dragging = null;
    if (this.dirty) {
      this.dirty = false;
      this.render();
    }
  }

  dropIndex(list, clientY) {
    const cards = [...list.querySelectorAll(".card")].filter((c) => c.dataset.taskId !== this.dragging);
    const index = cards.findIndex((c) => {
      const box = c.getBoundingClientRect();
      return clientY < box.top + box.height / 2;
    });
    return { cards, index: index === -1 ? cards.length : index };
  }

  listAt(event) {
    const column = event.target.closest && event.target.closest(".column");
    return column ? this.lists.get(column.dataset.status) : null;
  }

  onDragOver(event) {
    if (!this.dragging) return;
    const list = this.listAt(event);
    if (!list) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    const { cards, index } = this.dropIndex(list, event.clientY);
    const anchor = cards[index] || null;
    if (this.placeholder.parentNode !== list || this.placeholder.nextSibling !== anchor) {
      list.insertBefore(this.placeholder, anchor);
    }
  }

  onDrop(event) {
    const taskId = this.dragging;
    const list = this.listAt(event);
    if (!taskId || !list) return;
    event.preventDefault();
    const { index } = this.dropIndex(list, event.clientY);
    this.onDragEnd();
    this.actions.move(taskId, list.dataset.status, index);
  }
}
