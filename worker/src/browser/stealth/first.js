// The stealth disguise's first script, run in every document and worker before the page's
// own (stealth/mod.rs builds `CONFIG` from the fingerprint and puts a fresh token where
// `SCRX_MARK` stands). It replaces only what CDP cannot override, and each function it
// installs passes the native-function checks:
// - getters and methods are written as object-literal accessors and methods, so their
//   `name` (`get deviceMemory`), `length`, own properties (`length`, `name`: no
//   `prototype`) and non-constructibility are those of a native function;
// - each replaces a native one on the same prototype, with the native descriptor's flags,
//   and only where this browser has it (a property the page's context lacks stays absent);
// - `Function.prototype.toString` answers `function name() { [native code] }` for every
//   function whose source holds the token, in this realm and in any other realm of the
//   page (each runs this script with the same token), and itself passes for native;
// - an error thrown by a replacement (a wrong receiver) is rethrown with its stack taken
//   again from the replacement's caller, so it reads as the native error, without our
//   frames (`Error.captureStackTrace`), the toString builtin's own frame put back.
((CONFIG) => {
  'use strict';
  const { apply, defineProperty: define, getOwnPropertyDescriptor: describe, getPrototypeOf } = Reflect;
  const { includes, indexOf, slice } = String.prototype;
  const nativeToString = Function.prototype.toString;
  const capture = Error.captureStackTrace;
  const TOKEN = 'SCRX_MARK';
  // Our functions and their native names (a getter's starts with `get `).
  const names = new WeakMap();
  const { get: nameOf, set: nameAs } = WeakMap.prototype;
  const named = (fn, name) => apply(nameAs, names, [fn, name]);

  // `error`, thrown in `fn`, as the native function would have thrown it.
  const hide = (error, fn) => {
    if (error !== null && typeof error === 'object') {
      try { apply(capture, Error, [error, fn]); } catch (e) { /* leave it */ }
    }
    return error;
  };

  // The name V8 prints for a receiver in a builtin's stack frame (`Object.toString`).
  const receiverName = (value) => {
    if (value === null || value === undefined) return '';
    const primitive = { number: 'Number', string: 'String', boolean: 'Boolean', symbol: 'Symbol', bigint: 'BigInt' }[typeof value];
    if (primitive) return `${primitive}.`;
    for (let o = value; o !== null; o = getPrototypeOf(o)) {
      const d = describe(o, 'constructor');
      if (!d) continue;
      const name = typeof d.value === 'function' ? describe(d.value, 'name') : undefined;
      return `${name && typeof name.value === 'string' && name.value ? name.value : 'Object'}.`;
    }
    return 'Object.';
  };

  // A native builtin's error: our frames out, the builtin's own frame first.
  const fromBuiltin = (error, fn, receiver, builtin) => {
    hide(error, fn);
    try {
      const stack = error.stack;
      const limit = Error.stackTraceLimit;
      if (typeof stack !== 'string' || typeof limit !== 'number' || !(limit > 0)) return error;
      const at = apply(indexOf, stack, ['\n    at ']);
      const frame = `\n    at ${receiverName(receiver)}${builtin} (<anonymous>)`;
      let out = at < 0 ? stack + frame : apply(slice, stack, [0, at]) + frame + apply(slice, stack, [at]);
      let frames = 0;
      for (let i = apply(indexOf, out, ['\n    at ']); i >= 0; i = apply(indexOf, out, ['\n    at ', i + 1])) {
        frames += 1;
        if (frames > limit) { out = apply(slice, out, [0, i]); break; }
      }
      error.stack = out;
    } catch (e) { /* leave it */ }
    return error;
  };

  const nativeText = (fn) => {
    const text = apply(nativeToString, fn, []);
    if (!apply(includes, text, [TOKEN])) return text;
    let name = apply(nameOf, names, [fn]);
    if (name === undefined) {
      // Another realm's: its name as it was made.
      const d = describe(fn, 'name');
      name = d && typeof d.value === 'string' ? d.value : '';
    }
    return `function ${name}() { [native code] }`;
  };

  const hooks = {
    toString() { /* SCRX_MARK */
      try {
        return nativeText(this);
      } catch (error) {
        throw fromBuiltin(error, hooks.toString, this, 'toString');
      }
    },
  };
  named(hooks.toString, 'toString');

  // Puts `fn` where the native `key` of `proto` was, with its flags.
  const replace = (proto, key, native, fields) => {
    define(proto, key, { ...fields, enumerable: native.enumerable, configurable: native.configurable });
  };

  const tostring = describe(Function.prototype, 'toString');
  if (tostring) replace(Function.prototype, 'toString', tostring, { value: hooks.toString, writable: tostring.writable });

  // The native getter `name` of `proto` answering `value` (for a receiver it accepts).
  const getter = (proto, name, value) => {
    const native = proto && describe(proto, name);
    if (!native || typeof native.get !== 'function') return;
    const original = native.get;
    const holder = {
      get [name]() { /* SCRX_MARK */
        try {
          apply(original, this, []);
        } catch (error) {
          throw hide(error, fn);
        }
        return value;
      },
    };
    const fn = describe(holder, name).get;
    named(fn, `get ${name}`);
    replace(proto, name, native, { get: fn, set: native.set });
  };

  // WebGL's unmasked vendor and renderer, where the native call gives them.
  const webgl = (proto) => {
    const native = proto && describe(proto, 'getParameter');
    if (!native || typeof native.value !== 'function') return;
    const original = native.value;
    const holder = {
      getParameter(pname) { /* SCRX_MARK */
        let found;
        try {
          found = apply(original, this, arguments);
        } catch (error) {
          throw hide(error, holder.getParameter);
        }
        if (found === null || found === undefined) return found;
        if (pname === 37445) return CONFIG.webgl.vendor;
        if (pname === 37446) return CONFIG.webgl.renderer;
        return found;
      },
    };
    named(holder.getParameter, 'getParameter');
    replace(proto, 'getParameter', native, { value: holder.getParameter, writable: native.writable });
  };

  const nav = self.Navigator || self.WorkerNavigator;
  getter(nav && nav.prototype, 'deviceMemory', CONFIG.deviceMemory);
  if (CONFIG.platform !== null) getter(nav && nav.prototype, 'platform', CONFIG.platform);
  if (CONFIG.screen !== null && self.Screen) {
    for (const key of ['width', 'height', 'availWidth', 'availHeight']) {
      getter(self.Screen.prototype, key, CONFIG.screen[key]);
    }
  }
  webgl(self.WebGLRenderingContext && self.WebGLRenderingContext.prototype);
  webgl(self.WebGL2RenderingContext && self.WebGL2RenderingContext.prototype);
})
