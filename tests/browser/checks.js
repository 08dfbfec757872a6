// What tests/browser.rs runs in its pages, through Runtime.evaluate: a page's view of tidegate
// with the browser's own EventSource, fetch and WebSocket. Every helper settles within a
// deadline, so a check that hangs fails with a message instead of stalling the test.
window.tg = (() => {
  const within = (ms, what, promise) =>
    Promise.race([
      promise,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)),
    ]);
  // What the streams received, in order: {data, id} for SSE, the text for WebSocket.
  const received = { sse: [], ws: [] };
  let source = null;
  let socket = null;
  return {
    received,
    // Opens an EventSource and resolves when it is open.
    openSse(url) {
      return within(20000, `EventSource ${url}`, new Promise((resolve, reject) => {
        source = new EventSource(url);
        source.onmessage = (event) => received.sse.push({ data: event.data, id: event.lastEventId });
        source.onopen = () => resolve('open');
        source.onerror = () => {
          if (source.readyState === EventSource.CLOSED) reject(new Error('EventSource failed'));
        };
      }));
    },
    // Opens a WebSocket; resolves with the negotiated subprotocol and extensions, or with how it
    // closed ({opened: false, code}) when it could not open.
    openWs(url, protocols) {
      return within(20000, `WebSocket ${url}`, new Promise((resolve) => {
        const ws = new WebSocket(url, protocols);
        let opened = false;
        ws.onmessage = (event) => received.ws.push(String(event.data));
        ws.onopen = () => {
          opened = true;
          socket = ws;
          resolve({ opened: true, protocol: ws.protocol, extensions: ws.extensions });
        };
        ws.onclose = (event) => {
          if (!opened) resolve({ opened: false, code: event.code });
        };
      }));
    },
    sendWs(text) {
      socket.send(text);
      return true;
    },
    // Resolves when the stream (`sse` or `ws`) has received a message containing `text`.
    waitFor(stream, text) {
      return within(20000, `${stream} message containing ${text}`, new Promise((resolve) => {
        const poll = () => {
          const found = received[stream].find((m) => (m.data ?? m).includes(text));
          if (found) resolve(found); else setTimeout(poll, 20);
        };
        poll();
      }));
    },
    // fetch, answered as {status, messageId, body}, or {error} when the browser refuses it
    // (a CORS failure is a TypeError with no status).
    async request(url, init) {
      try {
        const response = await within(20000, `fetch ${url}`, fetch(url, init));
        return {
          status: response.status,
          messageId: response.headers.get('x-message-id'),
          body: await response.text(),
        };
      } catch (error) {
        return { error: String(error) };
      }
    },
    close() {
      if (source) source.close();
      if (socket) socket.close();
      return true;
    },
  };
})();
'installed';
