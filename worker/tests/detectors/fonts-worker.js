// A dedicated web worker's canvas font probe.
import { canvasFonts } from '/fonts.js';

postMessage(canvasFonts());
