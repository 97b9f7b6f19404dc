// Opens a detector page (argv[2]: detect.html, native.html or fonts.html) in Debian's Chromium driven by puppeteer-extra with
// puppeteer-extra-plugin-stealth, and prints the page's verdict (JSON) on stdout.
// Run by bench/stealth/run.sh, through worker/tests/stealth.rs's side-by-side command.
import puppeteer from 'puppeteer-extra';
import StealthPlugin from 'puppeteer-extra-plugin-stealth';

puppeteer.use(StealthPlugin());
const executablePath = process.env.SCRX_CHROMIUM || '/usr/bin/chromium';
// Chromium refuses its sandbox as root; ScraperX runs it as nobody instead.
const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
const browser = await puppeteer.launch({ executablePath, headless: true, args });
try {
  const page = await browser.newPage();
  await page.goto(process.argv[2]);
  await page.waitForSelector('#verdict[data-done]', { timeout: 30000 });
  process.stdout.write(await page.$eval('#verdict', (e) => e.textContent));
} finally {
  await browser.close();
}
