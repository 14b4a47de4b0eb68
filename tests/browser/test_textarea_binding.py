"""The description binding's two text steps, checked in the browser against real Yjs.

`textDiff` (local input to a Y.Text edit) must turn the old text into the new one, whatever the
edit; `shiftIndex` (where the local caret goes after a remote change) must agree with Yjs's own
relative positions. Both are run on many seeded random edits in the page, with the served modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.browser.pages import BoardPage

CHECK = r"""
async () => {
  const Y = await import("/vendor/yjs.js");
  const { textDiff, shiftIndex } = await import("/shared-description.js");
  let seed = 7;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  // Each emoji is two UTF-16 units: U+1F600 and U+1F601 share the first, U+1F600 and U+1FA00 the second.
  const alphabet = ["a", "b", " ", "\n", "é", "\u{1F600}", "\u{1F601}", "\u{1FA00}"];
  const chars = (n) => Array.from({ length: n }, () => alphabet[random(alphabet.length)]);
  const word = (n) => chars(n).join("");
  const failures = [];
  // One emoji replaced by another that shares its first, or its second, UTF-16 unit.
  const pairs = [["a\u{1F600}b", "a\u{1F601}b"], ["a\u{1F600}b", "a\u{1FA00}b"]];
  for (let round = 0; round < 400; round++) {
    const typed = chars(random(12)); // characters, so that no edit splits an emoji
    const before = typed.join("");
    for (let k = random(3) + 1; k > 0; k--) typed.splice(random(typed.length + 1), random(3), ...chars(random(4)));
    pairs.push([before, typed.join("")]);
  }
  for (const [before, after] of pairs) {
    // Local input: any before/after pair becomes one edit that leaves the Y.Text equal to after.
    const doc = new Y.Doc();
    const text = doc.getText("description");
    text.insert(0, before);
    const { index, removed, inserted } = textDiff(before, after);
    doc.transact(() => {
      if (removed) text.delete(index, removed);
      if (inserted) text.insert(index, inserted);
    });
    if (text.toString() !== after) failures.push({ kind: "diff", before, after });

    // A remote change (another client's edits, merged in one update): every caret index of the
    // text before lands where a Yjs relative position taken before the change lands.
    const other = new Y.Doc();
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc));
    const otherText = other.getText("description");
    for (let k = random(3) + 1; k > 0; k--) {
      const at = random(otherText.length + 1);
      const gone = Math.min(random(3), otherText.length - at);
      if (gone) otherText.delete(at, gone);
      if (random(2)) otherText.insert(at, word(random(4) + 1));
    }
    const positions = [];
    for (let i = 0; i <= text.length; i++) positions.push(Y.createRelativePositionFromTypeIndex(text, i));
    let delta = null;
    const observer = (event) => (delta = event.delta);
    text.observe(observer);
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other));
    text.unobserve(observer);
    positions.forEach((position, i) => {
      const expected = Y.createAbsolutePositionFromRelativePosition(position, doc).index;
      const got = delta ? shiftIndex(i, delta) : i;
      if (got !== expected) failures.push({ kind: "shift", text: after, now: text.toString(), i, got, expected });
    });
  }
  return failures.slice(0, 5);
}
"""


def test_text_steps_agree_with_yjs(open_page: Callable[..., BoardPage]) -> None:
    page = open_page("binding")
    page.page.goto(page.base_url + "/")
    failures: list[dict[str, Any]] = page.page.evaluate(CHECK)
    assert failures == []
