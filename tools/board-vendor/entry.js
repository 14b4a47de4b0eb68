// What the board takes from npm, as one ES module: all of yjs, and y-websocket's provider (which
// brings y-protocols' sync and awareness). `make board-vendor` bundles this into
// src/taskroom/static/board/vendor/yjs.js.
export * from "yjs";
export { WebsocketProvider } from "y-websocket";
