// Which font families a page can find, measured as FingerprintJS measures them: a text in
// `'family', base` against the bare base, for the bases monospace, sans-serif and serif;
// a family is present when any of its measurements differs from its base's.
const TEXT = 'mmMwWLliI0O&1';
const BASES = ['monospace', 'sans-serif', 'serif'];

// FingerprintJS's own list, the claimed platforms' common families, and the Linux families
// a disguise must hide.
export const FAMILIES = [
  'sans-serif-thin', 'ARNO PRO', 'Agency FB', 'Arabic Typesetting', 'Arial Unicode MS', 'AvantGarde Bk BT',
  'BankGothic Md BT', 'Batang', 'Bitstream Vera Sans Mono', 'Calibri', 'Century', 'Century Gothic', 'Clarendon',
  'EUROSTILE', 'Franklin Gothic', 'Futura Bk BT', 'Futura Md BT', 'GOTHAM', 'Gill Sans', 'HELV', 'Haettenschweiler',
  'Helvetica Neue', 'Humanst521 BT', 'Leelawadee', 'Letter Gothic', 'Levenim MT', 'Lucida Bright', 'Lucida Sans',
  'Menlo', 'MS Mincho', 'MS Outlook', 'MS Reference Specialty', 'MS UI Gothic', 'MT Extra', 'MYRIAD PRO', 'Marlett',
  'Meiryo UI', 'Microsoft Uighur', 'Minion Pro', 'Monotype Corsiva', 'PMingLiU', 'Pristina', 'SCRIPTINA',
  'Segoe UI Light', 'Serifa', 'SimHei', 'Small Fonts', 'Staccato222 BT', 'TRAJAN PRO', 'Univers CE 55 Medium',
  'Vrinda', 'ZWAdobeF',
  'Arial', 'Times New Roman', 'Courier New', 'Cambria', 'Consolas', 'Segoe UI', 'Georgia', 'Verdana', 'Tahoma',
  'Lucida Console', 'Helvetica', 'Times', 'Courier', 'Monaco', 'Geneva', 'Lucida Grande', 'Palatino',
  'Segoe UI Emoji', 'Apple Color Emoji', 'Wingdings', 'Zapf Dingbats',
  'DejaVu Sans', 'DejaVu Serif', 'DejaVu Sans Mono', 'Liberation Sans', 'Liberation Serif', 'Liberation Mono',
  'Liberation Sans Narrow', 'Arimo', 'Tinos', 'Cousine', 'Carlito', 'Caladea', 'Noto Color Emoji', 'Noto Sans',
  'Noto Sans CJK SC', 'Nimbus Sans', 'Nimbus Roman', 'Nimbus Mono PS', 'URW Gothic', 'URW Bookman', 'C059', 'P052',
  'Z003', 'D050000L', 'Standard Symbols PS', 'Ubuntu', 'Cantarell', 'FreeSans', 'Droid Sans',
];

function measure(holder, family) {
  const span = document.createElement('span');
  span.style.cssText = 'position:absolute;left:-9999px;font-size:48px;font-style:normal;font-weight:normal;'
    + 'letter-spacing:normal;line-break:auto;line-height:normal;text-transform:none;text-align:left;'
    + 'text-decoration:none;white-space:normal;word-break:normal;word-spacing:normal;';
  span.style.fontFamily = family;
  span.textContent = TEXT;
  holder.appendChild(span);
  return span;
}

export function presentFonts() {
  const holder = document.createElement('div');
  document.body.appendChild(holder);
  const bases = BASES.map((b) => measure(holder, b));
  const probes = FAMILIES.map((f) => BASES.map((b) => measure(holder, `'${f}',${b}`)));
  const size = (s) => [s.offsetWidth, s.offsetHeight];
  const base = bases.map(size);
  const present = FAMILIES.filter((_, i) =>
    probes[i].some((s, j) => size(s)[0] !== base[j][0] || size(s)[1] !== base[j][1]));
  holder.remove();
  return present;
}

// The same probe on a canvas (an OffscreenCanvas, so a worker can run it): a family is
// present when its text's width or font box differs from its base's.
export function canvasFonts() {
  const ctx = new OffscreenCanvas(8, 8).getContext('2d');
  const size = (family) => {
    ctx.font = `48px ${family}`;
    const m = ctx.measureText(TEXT);
    return [m.width, m.fontBoundingBoxAscent, m.fontBoundingBoxDescent].join();
  };
  const base = BASES.map(size);
  return FAMILIES.filter((f) => BASES.some((b, j) => size(`'${f}',${b}`) !== base[j]));
}

// The families `local()` in `@font-face` finds by full or PostScript name.
export async function localFonts() {
  const found = await Promise.all(FAMILIES.map((f, i) =>
    new FontFace(`scrx-local-${i}`, `local('${f}')`).load().then(() => f, () => null)));
  return found.filter((f) => f !== null);
}
