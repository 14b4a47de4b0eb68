// Who else is here and what they do: presence avatars, other people's cursors, and the signals this
// page sends (its cursor, "typing" while a task is being edited).

import { colourOf, initials, STATUS_LABELS } from "./people.js";

const CURSOR_INTERVAL_MS = 50; // the server forwards at most 20 a second anyway
const TYPING_REFRESH_MS = 2500; // the server ends "typing" 5 s after the last refresh

export function renderPresence(list, store, meId) {
  const people = [...store.presence.values()]
    .filter((entry) => entry.status !== "offline" && store.members.has(entry.userId))
    .sort((a, b) => (a.userId === meId ? -1 : b.userId === meId ? 1 : store.nameOf(a.userId).localeCompare(store.nameOf(b.userId))));
  list.replaceChildren(
    ...people.map((entry) => {
      const name = store.nameOf(entry.userId);
      const status = STATUS_LABELS[entry.status] || entry.status;
      const you = entry.userId === meId ? " (you)" : "";
      const item = document.createElement("li");
      item.className = `avatar status-${entry.status}`;
      item.dataset.userId = entry.userId;
      item.title = `${name}${you}: ${status}`;
      item.style.setProperty("--avatar-colour", colourOf(entry.userId));
      const letters = document.createElement("span");
      letters.className = "avatar-initials";
      letters.setAttribute("aria-hidden", "true");
      letters.textContent = initials(name);
      const label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = `${name}${you}, ${status}`;
      const badge = document.createElement("span");
      badge.className = "avatar-status";
      badge.setAttribute("aria-hidden", "true");
      badge.textContent = entry.status === "away" ? "z" : entry.status === "busy" ? "–" : "";
      item.append(letters, label, badge);
      return item;
    }),
  );
}

export function renderCursors(layer, store) {
  layer.replaceChildren(
    ...[...store.cursors.entries()].map(([userId, cursor]) => {
      const marker = document.createElement("div");
      marker.className = "cursor";
      marker.dataset.userId = userId;
      marker.style.left = `${Math.max(0, Math.min(1, cursor.x)) * 100}%`;
      marker.style.top = `${Math.max(0, Math.min(1, cursor.y)) * 100}%`;
      marker.style.setProperty("--avatar-colour", colourOf(userId));
      const label = document.createElement("span");
      label.className = "cursor-label";
      label.textContent = store.nameOf(userId);
      marker.append(label);
      return marker;
    }),
  );
}

// Sends this page's pointer as {x, y}: fractions of the board's width and height, so that a marker
// lands on the same spot of a board drawn at another size. Throttled, with the latest sent last.
export class CursorSender {
  constructor(board, send) {
    this.board = board;
    this.send = send;
    this.pending = null;
    this.timer = null;
    this.onMove = (event) => this.moved(event);
    board.addEventListener("mousemove", this.onMove);
  }

  moved(event) {
    const box = this.board.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const card = event.target.closest && event.target.closest(".card");
    this.pending = {
      taskId: card ? card.dataset.taskId : null,
      position: {
        x: Math.round(((event.clientX - box.left) / box.width) * 10000) / 10000,
        y: Math.round(((event.clientY - box.top) / box.height) * 10000) / 10000,
      },
    };
    if (this.timer === null) this.flush();
  }

  flush() {
    if (!this.pending) {
      this.timer = null;
      return;
    }
    const { taskId, position } = this.pending;
    this.pending = null;
    this.send(taskId, position);
    this.timer = setTimeout(() => this.flush(), CURSOR_INTERVAL_MS);
  }

  dispose() {
    this.board.removeEventListener("mousemove", this.onMove);
    clearTimeout(this.timer);
  }
}

// "Typing" for one task at a time: started on input, refreshed while input goes on, stopped on close.
export class TypingSignal {
  constructor(send) {
    this.send = send;
    this.taskId = null;
    this.sentAt = 0;
  }

  typed(taskId) {
    const now = Date.now();
    if (this.taskId !== taskId || now - this.sentAt > TYPING_REFRESH_MS) {
      if (this.taskId && this.taskId !== taskId) this.stop();
      this.taskId = taskId;
      this.sentAt = now;
      this.send(taskId, true);
    }
  }

  stop() {
    if (!this.taskId) return;
    this.send(this.taskId, false);
    this.taskId = null;
    this.sentAt = 0;
  }
}
