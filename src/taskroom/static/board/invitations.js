// Invitation links: `#/invite/{token}` on the page, and the members panel's pending invitations.
// The token travels in the URL's fragment, which a browser never sends to a server, so it reaches
// no proxy or access log on the way to the page; the page then sends it once, to accept.

export function inviteTokenOf(hash) {
  const match = hash.match(/^#\/invite\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

export function inviteLink(token) {
  return `${location.origin}${location.pathname}#/invite/${encodeURIComponent(token)}`;
}

// What to tell the person whose link did not work, by the server's answer (PROTOCOL §5.4).
export function acceptProblem(error) {
  if (error.status === 410) return "This invitation was used already, was withdrawn or has expired. Ask for a new one.";
  if (error.status === 403) return "This invitation was sent to another email address. Sign out, then sign in or sign up with that address.";
  if (error.status === 404) return "This invitation link is not valid. Check that it was copied whole.";
  return error.message || "The invitation could not be accepted.";
}

function expiryText(iso) {
  return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

// The pending invitations, each with a button that withdraws it.
export function renderInvitations(list, items, onRevoke) {
  list.replaceChildren(
    ...items.map((invitation) => {
      const item = document.createElement("li");
      const words = document.createElement("span");
      words.textContent = `${invitation.email} · ${invitation.role} · until ${expiryText(invitation.expiresAt)}`;
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "button-quiet";
      revoke.textContent = "Withdraw";
      revoke.setAttribute("aria-label", `Withdraw the invitation for ${invitation.email}`);
      revoke.addEventListener("click", () => onRevoke(invitation));
      item.append(words, " ", revoke);
      return item;
    }),
  );
  list.hidden = items.length === 0;
}

// The link just created, shown once with a button that copies it.
export function showLink(box, email, token) {
  const link = inviteLink(token);
  box.querySelector("#invite-link-for").textContent = email;
  box.querySelector("#invite-link").value = link;
  box.hidden = false;
  return link;
}
