// What a detector reads from the global it runs in (a page, an iframe or a web worker):
// BotD's verdict and the detectors that fired, and each tell the stealth engine must hide.
import { load as loadBotd } from '/botd.esm.js';

const ARTEFACT = /^(\$?cdc_|\$wdc_|__webdriver|__selenium|__driver|__fxdriver|__nightmare|__puppeteer|__playwright|_Selenium_IDE|callPhantom|_phantom|domAutomation)/;

async function botd() {
  try {
    const detector = await loadBotd({ monitoring: false });
    const verdict = detector.detect();
    const fired = Object.entries(detector.getDetections())
      .filter(([, d]) => d.bot)
      .map(([name]) => name.replace(/^detect/, ''));
    return { bot: verdict.bot, kind: verdict.botKind || null, fired };
  } catch (e) {
    return { error: String(e) };
  }
}

async function clientHints(nav) {
  if (!nav.userAgentData) return null;
  const high = await nav.userAgentData.getHighEntropyValues(
    ['platform', 'platformVersion', 'architecture', 'bitness', 'fullVersionList', 'uaFullVersion']);
  return {
    brands: nav.userAgentData.brands.map((b) => `${b.brand}/${b.version}`),
    mobile: nav.userAgentData.mobile,
    platform: nav.userAgentData.platform,
    fullVersionList: (high.fullVersionList || []).map((b) => `${b.brand}/${b.version}`),
  };
}

function webgl() {
  try {
    const gl = new OffscreenCanvas(4, 4).getContext('webgl');
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    return {
      vendor: gl.getParameter(info.UNMASKED_VENDOR_WEBGL),
      renderer: gl.getParameter(info.UNMASKED_RENDERER_WEBGL),
    };
  } catch (e) {
    return { error: String(e) };
  }
}

// A console call serialises its arguments only when a CDP client enabled the Runtime domain.
function runtimeEnabled() {
  let read = false;
  const bait = new Error('bait');
  Object.defineProperty(bait, 'stack', { get() { read = true; return ''; } });
  console.debug(bait);
  return read;
}

function artefacts() {
  const names = Object.getOwnPropertyNames(self);
  if (typeof document !== 'undefined') {
    names.push(...Object.getOwnPropertyNames(document), ...document.documentElement.getAttributeNames());
  }
  return names.filter((n) => ARTEFACT.test(n));
}

function windowOnly() {
  if (typeof window === 'undefined') return {};
  const plugins = navigator.plugins;
  return {
    screen: {
      width: screen.width, height: screen.height,
      availWidth: screen.availWidth, availHeight: screen.availHeight, colorDepth: screen.colorDepth,
    },
    devicePixelRatio: window.devicePixelRatio,
    outer: [window.outerWidth, window.outerHeight],
    plugins: {
      length: plugins.length,
      isPluginArray: plugins instanceof PluginArray,
      names: Array.from(plugins, (p) => p.name),
    },
    chrome: {
      type: typeof window.chrome,
      keys: window.chrome ? Object.keys(window.chrome).sort() : [],
    },
    notification: typeof Notification === 'undefined' ? null : Notification.permission,
  };
}

export async function probe() {
  const nav = self.navigator;
  return {
    botd: await botd(),
    webdriver: nav.webdriver,
    userAgent: nav.userAgent,
    appVersion: nav.appVersion,
    platform: nav.platform,
    languages: Array.from(nav.languages || []),
    hardwareConcurrency: nav.hardwareConcurrency,
    deviceMemory: nav.deviceMemory,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    clientHints: await clientHints(nav),
    webgl: webgl(),
    runtimeEnabled: runtimeEnabled(),
    artefacts: artefacts(),
    ...windowOnly(),
  };
}
