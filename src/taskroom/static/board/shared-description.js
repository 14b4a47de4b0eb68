// A task's description as the shared Yjs document of PROTOCOL §3.6, edited in a plain <textarea>.
//
// The binding is written here rather than taken from npm: the Yjs editor bindings (y-codemirror,
// y-prosemirror, y-quill…) each need their editor, and a textarea needs only two small steps:
//   - local input: the difference between the text before and after (common prefix and suffix) is
//     applied to the Y.Text as one delete and one insert;
//   - remote changes: the textarea takes the new text, and the local selection is moved by the
//     change's delta, so a caret stays where it was in the text around it.
// Awareness carries `user: {name, color}` and `cursor: {anchor, head}`, both Yjs relative positions
// as JSON (`Y.relativePositionToJSON`), as y-codemirror and y-quill do; `cursor` is null while the
// textarea does not have the focus.

import { safeColour } from "./people.js";
import * as Y from "./vendor/yjs.js";

const DEFAULT_CARET_COLOUR = "#1d4ed8"; // for a state without a colour, or with one not #rrggbb
const FIRST_SYNC_MS = 8000; // no document by then: the editor falls back to saving the description over REST

// ws(s)://host/api/v1/tasks: y-websocket appends `/{room}` (here `{taskId}/doc`) and `?token=…`.
export function documentServerUrl() {
  const url = new URL("api/v1/tasks", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// One task's shared description, bound to a textarea while the edit dialog is open.
//   options: {taskId, token, user: {name, color}, textarea, layer, readOnly,
//             onState(state)}  with state one of "connecting", "shared", "offline", "closed", "unavailable"
export class SharedDescription {
  constructor(options) {
    this.options = options;
    this.textarea = options.textarea;
    this.doc = new Y.Doc();
    this.text = this.doc.getText("description");
    this.binding = null;
    this.carets = null;
    this.synced = false; // the first sync happened: from then on the textarea shows the document
    this.state = "connecting"; // onState is told of changes from this one on
    this.provider = new Y.WebsocketProvider(documentServerUrl(), `${options.taskId}/doc`, this.doc, {
      params: { token: options.token },
      // Tabs of one browser would otherwise exchange updates directly, past the server's access
      // checks (a viewer's tab and an editor's tab of another account on the same origin).
      disableBc: true,
    });
    this.provider.awareness.setLocalStateField("user", options.user);
    this.provider.on("sync", (isSynced) => isSynced && this.firstSync());
    this.provider.on("status", ({ status }) => this.statusChanged(status));
    this.provider.on("connection-close", (event) => this.closedBy(event));
    this.fallbackTimer = setTimeout(() => !this.synced && this.giveUp("unavailable"), FIRST_SYNC_MS);
  }

  // Connected and synced: the description travels through the document, not through REST.
  get live() {
    return this.synced && this.provider.wsconnected && this.state !== "closed";
  }

  firstSync() {
    if (this.synced) return;
    this.synced = true;
    clearTimeout(this.fallbackTimer);
    this.binding = new TextareaBinding(this.text, this.textarea, this.provider.awareness);
    this.carets = new RemoteCarets(this.textarea, this.options.layer, this.provider.awareness, this.text);
    this.textarea.readOnly = this.options.readOnly;
    this.setState("shared");
  }

  statusChanged(status) {
    if (!this.synced || this.state === "closed") return;
    this.setState(status === "connected" ? "shared" : "offline");
  }

  // y-websocket does not reconnect after a close code in 4400-4499 (no access, task deleted,
  // expired token): the document is closed for this dialog.
  closedBy(event) {
    if (event && event.code >= 4400 && event.code < 4500) {
      if (this.synced) {
        this.provider.disconnect();
        this.textarea.readOnly = true;
        this.setState("closed");
      } else {
        this.giveUp("unavailable");
      }
    }
  }

  giveUp(state) {
    this.provider.disconnect();
    this.setState(state);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.options.onState(state);
  }

  destroy() {
    clearTimeout(this.fallbackTimer);
    if (this.binding) this.binding.destroy();
    if (this.carets) this.carets.destroy();
    // Queued updates still go out before the WebSocket's close frame; the server then removes this
    // client's awareness (its caret) for everyone.
    this.provider.destroy();
    this.doc.destroy();
  }
}

// --- the textarea binding ----------------------------------------------------------------------------

class TextareaBinding {
  constructor(text, textarea, awareness) {
    this.text = text;
    this.textarea = textarea;
    this.awareness = awareness;
    this.lastCursor = null;
    textarea.value = text.toString();
    this.onInput = () => this.localInput();
    this.onSelection = () => this.sendCursor();
    this.onBlur = () => this.setCursor(null);
    this.observer = (event, transaction) => {
      if (transaction.origin !== this) this.remoteChange(event.delta);
    };
    text.observe(this.observer);
    textarea.addEventListener("input", this.onInput);
    for (const type of ["select", "keyup", "mouseup", "focus"]) textarea.addEventListener(type, this.onSelection);
    document.addEventListener("selectionchange", this.onSelection);
    textarea.addEventListener("blur", this.onBlur);
    this.sendCursor();
  }

  localInput() {
    const before = this.text.toString();
    const after = this.textarea.value;
    const { index, removed, inserted } = textDiff(before, after);
    if (removed || inserted) {
      this.text.doc.transact(() => {
        if (removed) this.text.delete(index, removed);
        if (inserted) this.text.insert(index, inserted);
      }, this);
    }
    this.sendCursor();
  }

  remoteChange(delta) {
    const area = this.textarea;
    const focused = document.activeElement === area;
    const { selectionStart, selectionEnd, selectionDirection } = area;
    const scroll = area.scrollTop;
    area.value = this.text.toString();
    if (focused) {
      area.setSelectionRange(shiftIndex(selectionStart, delta), shiftIndex(selectionEnd, delta), selectionDirection);
    }
    area.scrollTop = scroll;
  }

  sendCursor() {
    const area = this.textarea;
    if (document.activeElement !== area) return;
    const backward = area.selectionDirection === "backward";
    const anchor = backward ? area.selectionEnd : area.selectionStart;
    const head = backward ? area.selectionStart : area.selectionEnd;
    this.setCursor({
      anchor: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(this.text, anchor)),
      head: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(this.text, head)),
    });
  }

  // One awareness update per real change: selection events come in bursts.
  setCursor(cursor) {
    const key = JSON.stringify(cursor);
    if (key === this.lastCursor) return;
    this.lastCursor = key;
    this.awareness.setLocalStateField("cursor", cursor);
  }

  destroy() {
    this.text.unobserve(this.observer);
    const area = this.textarea;
    area.removeEventListener("input", this.onInput);
    for (const type of ["select", "keyup", "mouseup", "focus"]) area.removeEventListener(type, this.onSelection);
    document.removeEventListener("selectionchange", this.onSelection);
    area.removeEventListener("blur", this.onBlur);
  }
}

// The one edit that turns `before` into `after`: their common prefix and suffix are kept, never
// splitting a surrogate pair (an emoji is two UTF-16 units, and Y.Text counts in those units too).
export function textDiff(before, after) {
  let start = 0;
  const shorter = Math.min(before.length, after.length);
  while (start < shorter && before[start] === after[start]) start++;
  if (start > 0 && isHighSurrogate(before.charCodeAt(start - 1))) start--;
  let end = 0;
  while (end < shorter - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++;
  if (end > 0 && isLowSurrogate(before.charCodeAt(before.length - end))) end--;
  return {
    index: start,
    removed: before.length - start - end,
    inserted: after.slice(start, after.length - end),
  };
}

function isHighSurrogate(code) {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code) {
  return code >= 0xdc00 && code <= 0xdfff;
}

// Where an index of the text before a change lands after it (a Yjs delta: retain, insert, delete).
// Text inserted right at the index goes before it, as Yjs relative positions do.
export function shiftIndex(index, delta) {
  let position = 0; // in the text before the change
  let shifted = index;
  for (const op of delta) {
    if (position > index) break;
    if (op.retain) position += op.retain;
    else if (op.insert !== undefined) shifted += typeof op.insert === "string" ? op.insert.length : 1;
    else if (op.delete) {
      if (position < index) shifted -= Math.min(op.delete, index - position);
      position += op.delete;
    }
  }
  return shifted;
}

// --- other people's carets and selections -----------------------------------------------------------

// Drawn in `layer`, a box laid over the textarea. Positions are measured on a hidden mirror of the
// textarea (same font, padding, width and wrapping): a DOM Range over the mirror's text gives the
// rectangles of a selection, line by line, and the place of a caret.
class RemoteCarets {
  constructor(textarea, layer, awareness, text) {
    this.textarea = textarea;
    this.layer = layer;
    this.awareness = awareness;
    this.text = text;
    this.mirror = document.createElement("div");
    this.mirror.className = "description-mirror";
    this.mirror.setAttribute("aria-hidden", "true");
    textarea.after(this.mirror);
    this.render = () => this.draw();
    this.scheduled = false;
    this.schedule = () => {
      if (this.scheduled) return;
      this.scheduled = true;
      requestAnimationFrame(() => {
        this.scheduled = false;
        this.draw();
      });
    };
    awareness.on("change", this.schedule);
    text.observe(this.schedule);
    textarea.addEventListener("input", this.schedule);
    textarea.addEventListener("scroll", this.schedule);
    this.resize = new ResizeObserver(this.schedule);
    this.resize.observe(textarea);
    this.draw();
  }

  others() {
    const found = [];
    for (const [clientId, state] of this.awareness.getStates()) {
      if (clientId === this.awareness.clientID || !state || !state.cursor || !state.user) continue;
      const anchor = this.absolute(state.cursor.anchor);
      const head = this.absolute(state.cursor.head);
      if (anchor === null || head === null) continue;
      found.push({ clientId, user: state.user, anchor, head });
    }
    return found;
  }

  absolute(json) {
    try {
      const position = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), this.text.doc);
      return position && position.type === this.text ? position.index : null;
    } catch {
      return null; // not a relative position: a client of another kind
    }
  }

  draw() {
    const area = this.textarea;
    const people = this.others();
    if (!people.length) {
      this.layer.replaceChildren();
      return;
    }
    const style = getComputedStyle(area);
    const box = {
      left: area.offsetLeft + parseFloat(style.borderLeftWidth),
      top: area.offsetTop + parseFloat(style.borderTopWidth),
      width: area.clientWidth,
      height: area.clientHeight,
    };
    for (const property of MIRRORED) this.mirror.style.setProperty(property, style.getPropertyValue(property));
    Object.assign(this.mirror.style, {
      left: `${box.left}px`,
      top: `${box.top}px`,
      width: `${box.width}px`,
      height: `${box.height}px`,
    });
    Object.assign(this.layer.style, {
      left: `${box.left}px`,
      top: `${box.top}px`,
      width: `${box.width}px`,
      height: `${box.height}px`,
    });
    // A zero-width space after the text gives a trailing newline its line.
    const content = document.createTextNode(`${area.value}\u200b`);
    this.mirror.replaceChildren(content);
    const origin = this.mirror.getBoundingClientRect();
    const length = area.value.length;
    const offset = (rect) => ({ x: rect.left - origin.left, y: rect.top - origin.top - area.scrollTop, h: rect.height });
    const visible = (y, h) => y + h > 0 && y < box.height;
    const marks = [];
    for (const person of people) {
      const colour = safeColour(person.user.color, DEFAULT_CARET_COLOUR);
      const from = Math.min(Math.max(0, Math.min(person.anchor, person.head)), length);
      const to = Math.min(Math.max(person.anchor, person.head), length);
      if (from < to) {
        const range = document.createRange();
        range.setStart(content, from);
        range.setEnd(content, to);
        for (const rect of range.getClientRects()) {
          const at = offset(rect);
          if (!visible(at.y, at.h) || rect.width === 0) continue;
          marks.push(mark("remote-selection", colour, at.x, at.y, rect.width, at.h));
        }
      }
      const rect = caretRect(content, Math.min(Math.max(0, person.head), length));
      if (!rect) continue;
      const at = offset(rect);
      if (!visible(at.y, at.h)) continue;
      const caret = mark("remote-caret", colour, at.x, at.y, 0, at.h);
      caret.dataset.clientId = String(person.clientId);
      const label = document.createElement("span");
      label.className = "remote-caret-label";
      label.textContent = person.user.name || "Someone";
      caret.append(label);
      marks.push(caret);
    }
    this.layer.replaceChildren(...marks);
    stackLabels(this.layer.querySelectorAll(".remote-caret-label"));
  }

  destroy() {
    this.awareness.off("change", this.schedule);
    this.text.unobserve(this.schedule);
    this.textarea.removeEventListener("input", this.schedule);
    this.textarea.removeEventListener("scroll", this.schedule);
    this.resize.disconnect();
    this.mirror.remove();
    this.layer.replaceChildren();
  }
}

// What the mirror copies from the textarea so that its text wraps the same way.
const MIRRORED = [
  "font-family",
  "font-size",
  "font-weight",
  "font-style",
  "line-height",
  "letter-spacing",
  "word-spacing",
  "tab-size",
  "text-indent",
  "text-transform",
  "padding-top",
  "padding-right",
  "padding-bottom",
  "padding-left",
];

// Carets at the same place would hide each other's names: a label that overlaps one placed before
// it goes up a row.
function stackLabels(labels) {
  const placed = [];
  for (const label of labels) {
    for (let row = 0; row < 4; row++) {
      const box = label.getBoundingClientRect();
      const overlaps = placed.some((other) => box.left < other.right && other.left < box.right && box.top < other.bottom && other.top < box.bottom);
      if (!overlaps) break;
      label.style.transform = `translateY(-${(row + 1) * 100}%)`;
    }
    placed.push(label.getBoundingClientRect());
  }
}

// The caret's place: a collapsed range's box, or else the left edge of the character after it.
function caretRect(content, index) {
  const range = document.createRange();
  range.setStart(content, index);
  range.collapse(true);
  const collapsed = range.getClientRects()[0];
  if (collapsed && collapsed.height) return collapsed;
  range.setEnd(content, index + 1); // the mirror's text ends with a zero-width space: always there
  const next = range.getClientRects()[0];
  return next ? { left: next.left, top: next.top, height: next.height } : null;
}

function mark(className, colour, x, y, width, height) {
  const element = document.createElement("div");
  element.className = className;
  element.style.setProperty("--caret-colour", colour);
  Object.assign(element.style, { left: `${x}px`, top: `${y}px`, height: `${height}px` });
  if (width) element.style.width = `${width}px`;
  return element;
}
