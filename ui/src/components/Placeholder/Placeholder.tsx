import styles from "./Placeholder.module.css";

// Placeholder stands for a page that is not built yet; it says which CLI
// commands do the same meanwhile.
export function Placeholder({ title, cli }: { title: string; cli: string[] }) {
  return (
    <>
      <h1>{title}</h1>
      <section className={styles.box} aria-label={`${title}: not in the console yet`}>
        <p>This page is not in the console yet. The CLI does it:</p>
        <pre className={styles.cli}>{cli.join("\n")}</pre>
      </section>
    </>
  );
}
