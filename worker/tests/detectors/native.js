// The native-function checks a detector runs on what a disguise may have replaced, read in
// one realm (`g`: a window, an iframe's contentWindow, or a worker's global): each
// getter's and method's source, name, length, own properties, descriptor flags, what `new`
// and a wrong receiver make of it (the error's stack included), and what another realm's
// `Function.prototype.toString` says of it. The stealth engine's reading must equal the
// honest browser engine's, line for line.

const GETTERS = {
  Navigator: ['webdriver', 'deviceMemory', 'platform', 'userAgent', 'hardwareConcurrency', 'languages', 'plugins', 'userAgentData'],
  WorkerNavigator: ['deviceMemory', 'platform', 'userAgent', 'hardwareConcurrency', 'languages'],
  Screen: ['width', 'height', 'availWidth', 'availHeight', 'colorDepth'],
};
const METHODS = {
  WebGLRenderingContext: ['getParameter', 'getExtension'],
  WebGL2RenderingContext: ['getParameter'],
  Permissions: ['query'],
  Function: ['toString'],
  HTMLCanvasElement: ['toDataURL', 'getContext'],
};

function attempt(run) {
  try {
    const value = run();
    return { value: typeof value === 'string' ? value : typeof value };
  } catch (e) {
    return { error: String(e && e.name), message: String(e && e.message), stack: String(e && e.stack) };
  }
}

function one(g, fn, descriptor, other) {
  const toString = g.Function.prototype.toString;
  const ownNames = g.Object.getOwnPropertyNames(fn);
  return {
    toString: attempt(() => toString.call(fn)),
    viaString: attempt(() => String(fn)),
    otherRealm: other ? attempt(() => other.Function.prototype.toString.call(fn)) : null,
    name: fn.name,
    length: fn.length,
    ownNames: ownNames.join(','),
    hasPrototype: 'prototype' in fn,
    descriptor: {
      enumerable: descriptor.enumerable,
      configurable: descriptor.configurable,
      writable: 'writable' in descriptor ? descriptor.writable : null,
      set: typeof descriptor.set,
    },
    construct: attempt(() => new fn()),
    wrongReceiver: attempt(() => fn.call({})),
    objectCreate: attempt(() => g.Object.create(fn).toString()),
  };
}

// The readings of realm `g`; `other`, another realm to read them through, if any.
export function nativeChecks(g, other) {
  const out = {};
  for (const [iface, names] of Object.entries(GETTERS)) {
    const proto = g[iface] && g[iface].prototype;
    if (!proto) continue;
    for (const name of names) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      out[`${iface}.${name}`] = d && d.get ? one(g, d.get, d, other) : null;
    }
  }
  for (const [iface, names] of Object.entries(METHODS)) {
    const proto = g[iface] && g[iface].prototype;
    if (!proto) continue;
    for (const name of names) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      out[`${iface}.${name}`] = d && typeof d.value === 'function' ? one(g, d.value, d, other) : null;
    }
  }
  const toString = g.Function.prototype.toString;
  out.toStringOfToString = attempt(() => toString.toString());
  out.toStringCallItself = attempt(() => toString.call(toString));
  out.toStringWrongReceiver = attempt(() => toString.call({}));
  out.toStringNull = attempt(() => toString.call(null));
  out.navigatorOwnNames = g.Object.getOwnPropertyNames(g.navigator).join(',');
  out.screenOwnNames = g.screen ? g.Object.getOwnPropertyNames(g.screen).join(',') : null;
  return out;
}

// What the disguise claims in realm `g` (to tell a disguised realm from a bare one).
export function claims(g) {
  let webgl = null;
  try {
    const gl = new g.OffscreenCanvas(4, 4).getContext('webgl');
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    webgl = { vendor: gl.getParameter(info.UNMASKED_VENDOR_WEBGL), renderer: gl.getParameter(info.UNMASKED_RENDERER_WEBGL) };
  } catch (e) {
    webgl = { error: String(e) };
  }
  return {
    deviceMemory: g.navigator.deviceMemory,
    platform: g.navigator.platform,
    screenWidth: g.screen ? g.screen.width : null,
    webgl,
  };
}
