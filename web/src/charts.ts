import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';

// Only what the insights page draws, so the bundle carries no other chart type. Chart.js draws on
// a canvas and sets the canvas's size through the CSSOM, which the page's CSP (style-src 'self')
// allows: it adds no <style> element and no style attribute.
Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

export { Chart };
