// Editing a task's title and description, and settling a conflict when someone else saved the same
// fields meanwhile. Edits carry the version the editor started from (`baseVersion`): the server
// merges changes to fields nobody else touched and answers 409 with its current task otherwise.

import { ApiError } from "./api.js";
import { typingText } from "./people.js";

const FIELDS = { title: "Title", description: "Description" };

export class TaskEditor {
  // context: {api, store, typing: TypingSignal, announce(text), showError(text)}, read at each use
  // (the store and typing signal are those of the board open at the time).
  constructor(context) {
    this.context = context;
    this.dialog = document.getElementById("edit-dialog");
    this.form = document.getElementById("edit-form");
    this.title = document.getElementById("edit-task-title");
    this.description = document.getElementById("edit-task-description");
    this.typingNote = document.getElementById("edit-typing");
    this.conflict = new ConflictResolver(context);
    this.task = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    document.getElementById("edit-cancel").addEventListener("click", () => this.close());
    this.dialog.addEventListener("close", () => this.closed());
    for (const field of [this.title, this.description]) {
      field.addEventListener("input", () => this.task && context.typing.typed(this.task.id));
    }
  }

  open(task) {
    this.task = { ...task }; // the version the edit starts from
    this.title.value = task.title;
    this.description.value = task.description || "";
    this.showTypists();
    this.dialog.showModal();
    this.title.focus();
  }

  // Called when who types where changes.
  showTypists() {
    if (!this.task) return;
    this.typingNote.textContent = typingText(this.context.store.typistsOf(this.task.id));
  }

  // Only fields the user changed are sent, so an untouched field never conflicts.
  changes() {
    const changes = {};
    if (this.title.value !== this.task.title) changes.title = this.title.value;
    if (this.description.value !== (this.task.description || "")) changes.description = this.description.value;
    return changes;
  }

  async save() {
    const task = this.task;
    const changes = this.changes();
    if (!this.title.value.trim()) {
      this.context.showError("A task needs a title.");
      this.title.focus();
      return;
    }
    if (!Object.keys(changes).length) {
      this.close();
      return;
    }
    try {
      const saved = await this.context.api.updateTask(task.id, changes, task.version);
      this.context.store.putTask(saved);
      this.close();
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.current) {
        this.close();
        this.conflict.open(task.id, changes, error.current);
      } else if (error instanceof ApiError && error.status === 404) {
        this.close();
        this.context.showError("This task was deleted by someone else.");
      } else {
        this.context.showError(error.message);
      }
    }
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  closed() {
    this.context.typing.stop();
    this.task = null;
  }

  // The board closes: nothing stays open over another board.
  reset() {
    this.close();
    this.conflict.close();
  }
}

class ConflictResolver {
  constructor(context) {
    this.context = context;
    this.dialog = document.getElementById("conflict-dialog");
    this.rows = document.getElementById("conflict-rows");
    this.who = document.getElementById("conflict-who");
    this.pending = null;
    document.getElementById("conflict-mine").addEventListener("click", () => this.keepMine());
    document.getElementById("conflict-theirs").addEventListener("click", () => this.takeTheirs());
  }

  open(taskId, mine, current) {
    this.pending = { taskId, mine, current };
    const actor = this.context.store.lastActor.get(taskId);
    this.who.textContent = actor ? this.context.store.nameOf(actor) : "someone else";
    this.rows.replaceChildren(
      ...Object.keys(mine).map((field) => {
        const row = document.createElement("tr");
        const name = document.createElement("th");
        name.scope = "row";
        name.textContent = FIELDS[field] || field;
        const yours = document.createElement("td");
        yours.className = "conflict-mine";
        yours.textContent = mine[field] || "(empty)";
        const theirs = document.createElement("td");
        theirs.className = "conflict-theirs";
        theirs.textContent = current[field] || "(empty)";
        row.append(name, yours, theirs);
        return row;
      }),
    );
    if (!this.dialog.open) this.dialog.showModal();
    document.getElementById("conflict-mine").focus();
  }

  async keepMine() {
    const { taskId, mine, current } = this.pending;
    try {
      const saved = await this.context.api.updateTask(taskId, mine, current.version);
      this.context.store.putTask(saved);
      this.close();
      this.context.announce("Your version was saved.");
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.current) {
        this.open(taskId, mine, error.current); // changed again meanwhile: decide again
      } else {
        this.close();
        this.context.showError(error.message);
      }
    }
  }

  takeTheirs() {
    const { current } = this.pending;
    this.context.store.putTask(current);
    this.close();
    this.context.announce("Kept the other version.");
  }

  close() {
    if (this.dialog.open) this.dialog.close();
    this.pending = null;
  }
}
