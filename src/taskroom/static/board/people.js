// How people look on the board: initials and a colour per user, dark enough for white text.

export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

// A stable hue from the user id; lightness 26% keeps white text above 4.5:1 on every hue. Written
// as #rrggbb: the only form of colour the server passes on in a document's awareness.
export function colourOf(userId) {
  let hash = 0;
  for (const ch of String(userId)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return hslToHex(hash % 360, 0.7, 0.26);
}

// The usual HSL to RGB formula (CSS Color 4, "hsl-to-rgb"), each channel as two hex digits.
function hslToHex(hue, saturation, lightness) {
  const a = saturation * Math.min(lightness, 1 - lightness);
  const channel = (n) => {
    const k = (n + hue / 30) % 12;
    const value = lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * value).toString(16).padStart(2, "0");
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

// A colour from someone else (a document's awareness) goes into a style only as #rrggbb: anything
// else (`url(…)`, `var(…)`, an expression) could make the browser fetch or show what it says.
export function safeColour(value, fallback) {
  return typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value) ? value : fallback;
}

export const STATUS_LABELS = { online: "online", away: "away", busy: "busy" };

export function typingText(names) {
  if (!names.length) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}
