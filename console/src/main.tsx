import { render } from 'preact';
import { ConsoleApp } from './console-app.tsx';
import './styles.css';

render(<ConsoleApp />, document.getElementById('root')!);
