// Server-Sent Events over fetch(). EventSource only delivers `event:` names
// it was told about in advance, and the server names each message by its
// event kind, which grows with every analytic; parsing the stream ourselves
// receives every kind and lets us send Last-Event-ID on reconnect.
import { sleep } from './util.js';

export function openStream(url, { lastId = null, onEvent, onState }) {
  let stopped = false;
  let ctrl = null;

  async function run() {
    let delay = 1000;
    while (!stopped) {
      ctrl = new AbortController();
      onState('connecting');
      try {
        const headers = { Accept: 'text/event-stream' };
        if (lastId !== null) headers['Last-Event-ID'] = String(lastId);
        const r = await fetch(url, { headers, signal: ctrl.signal, cache: 'no-store' });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        onState('open');
        delay = 1000;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf = (buf + value).replace(/\r\n/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            dispatch(block);
          }
        }
      } catch (e) {
        if (stopped) return;
        console.warn('live stream interrupted:', e.message || e);
      }
      if (stopped) return;
      onState('reconnecting');
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }

  function dispatch(block) {
    let kind = 'message';
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let v = c < 0 ? '' : line.slice(c + 1);
      if (v.startsWith(' ')) v = v.slice(1);
      if (field === 'event') kind = v;
      else if (field === 'data') data.push(v);
      else if (field === 'id') id = v;
    }
    if (id !== null) lastId = id;
    if (!data.length) return;
    let payload;
    try { payload = JSON.parse(data.join('\n')); } catch (_) { return; }
    onEvent(kind, payload);
  }

  run();
  return { close() { stopped = true; if (ctrl) ctrl.abort(); } };
}
