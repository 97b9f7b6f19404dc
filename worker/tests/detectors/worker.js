// A dedicated web worker's own reading of the tells.
import { probe } from '/probe.js';

probe().then((found) => postMessage(found), (e) => postMessage({ error: String(e) }));
