// The dashboard's entry point: defines the elements; <dx-app> in index.html does the rest.
import './components/dx-app.ts';
