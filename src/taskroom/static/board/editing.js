// Editing a task's title and description, and settling a conflict when someone else saved the same
// fields meanwhile. Edits carry the version the editor started from (`baseVersion`): the server
// merges changes to fields nobody else touched and answers 409 with its current task otherwise.
// The description is the task's shared document (shared-description.js) while that is connected:
// it is saved as people type, and Save sends the other fields only.

import { ApiError } from "./api.js";
import { colourOf, typingText } from "./people.js";
import { SharedDescription } from "./shared-description.js";

const SHARED_NOTES = {
  connecting: "Connecting to the shared description…",
  shared: "The description is shared: everyone editing sees changes as they are typed, and they are saved as you type.",
  offline: "Reconnecting… Your changes to the description are kept and sent when the connection is back.",
  closed: "The shared description was closed (the task was deleted or your access changed).",
  unavailable: "Live editing of the description is not available now: it is saved with Save.",
};

const FIELDS = { title: "Title", description: "Description" };

export class TaskEditor {
  // context: {api, store, typing: TypingSignal, session: {token, user}, canWrite, announce(text),
  // showError(text)}, read at each use (the store, typing signal and role are those of the board
  // open at the time).
  constructor(context) {
    this.context = context;
    this.dialog = document.getElementById("edit-dialog");
    this.form = document.getElementById("edit-form");
    this.title = document.getElementById("edit-task-title");
    this.description = document.getElementById("edit-task-description");
    this.typingNote = document.getElementById("edit-typing");
    this.sharedNote = document.getElementById("edit-description-state");
    this.caretLayer = document.getElementById("edit-description-carets");
    this.heading = document.getElementById("edit-title");
    this.saveButton = document.getElementById("edit-save");
    this.cancelButton = document.getElementById("edit-cancel");
    this.shared = null;
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
    const readOnly = !this.context.canWrite;
    this.heading.textContent = readOnly ? "View task" : "Edit task";
    this.saveButton.hidden = readOnly;
    this.cancelButton.textContent = readOnly ? "Close" : "Cancel";
    this.title.value = task.title;
    this.title.readOnly = readOnly;
    this.description.value = task.description || "";
    this.description.readOnly = true; // until the shared document has arrived
    this.openShared(task.id, readOnly);
    this.showTypists();
    this.dialog.showModal();
    this.title.focus();
  }

  openShared(taskId, readOnly) {
    const { token, user } = this.context.session;
    const shared = new SharedDescription({
      taskId,
      token,
      user: { name: user.name, color: colourOf(user.id) },
      textarea: this.description,
      layer: this.caretLayer,
      readOnly,
      onState: (state) => {
        if (this.shared === shared) this.sharedChanged(state, readOnly);
      },
    });
    this.shared = shared;
    this.sharedChanged(shared.state, readOnly);
  }

  sharedChanged(state, readOnly) {
    this.sharedNote.textContent = readOnly && state === "shared" ? "Read-only: you are a viewer here." : SHARED_NOTES[state];
    if (state === "unavailable") {
      // Without the document the description is edited as a plain field and sent with Save.
      this.shared.destroy();
      this.shared = null;
      this.description.readOnly = readOnly;
    }
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
    // While the shared document is connected it carries the description, and the server writes it
    // to the task: sending it as well would replace the text others typed meanwhile.
    const sharedLive = this.shared && this.shared.live;
    if (!sharedLive && this.description.value !== (this.task.description || "")) {
      changes.description = this.description.value;
    }
    return changes;
  }

  async save() {
    const task = this.task;
    if (!this.context.canWrite) {
      this.close();
      return;
    }
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
    if (this.shared) this.shared.destroy();
    this.shared = null;
    this.sharedNote.textContent = "";
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
