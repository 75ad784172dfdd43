// A JDBC client as BI tools and JVM agents use it: connect, discover the schema through DatabaseMetaData, run a
// PreparedStatement more times than prepareThreshold (so the driver switches to a named server-side statement), read
// with a fetch size (a portal read in batches), read masked columns, try a write that is refused, and read each closed
// relation named after the token. Prints one JSON object per step on stdout; the test asserts on them.
// Run: java -cp postgresql.jar Probe.java <url> <user> <token> [relation…]
import java.sql.*;
import java.util.*;

public class Probe {
  static String q(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  static String list(List<String> items) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < items.size(); i++) b.append(i == 0 ? "" : ",").append(items.get(i));
    return b.append(']').toString();
  }

  static void emit(String step, String body) {
    System.out.println("{\"step\":" + q(step) + "," + body + "}");
    System.out.flush();
  }

  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.setProperty("user", args[1]);
    props.setProperty("password", args[2]);
    props.setProperty("sslmode", "disable");
    try (Connection c = DriverManager.getConnection(args[0], props)) {
      DatabaseMetaData md = c.getMetaData();
      emit("connect", "\"product\":" + q(md.getDatabaseProductName()) + ",\"version\":" + q(md.getDatabaseProductVersion()));

      List<String> tables = new ArrayList<>();
      try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
        while (rs.next()) tables.add(q(rs.getString("TABLE_NAME")));
      }
      emit("tables", "\"tables\":" + list(tables));

      List<String> columns = new ArrayList<>();
      try (ResultSet rs = md.getColumns(null, "public", "customers", "%")) {
        while (rs.next()) columns.add("[" + q(rs.getString("COLUMN_NAME")) + "," + q(rs.getString("TYPE_NAME")) + "]");
      }
      emit("columns", "\"columns\":" + list(columns));

      List<String> keys = new ArrayList<>();
      try (ResultSet rs = md.getPrimaryKeys(null, "public", "orders")) {
        while (rs.next()) keys.add(q(rs.getString("COLUMN_NAME")));
      }
      emit("primaryKeys", "\"columns\":" + list(keys));

      List<String> imported = new ArrayList<>();
      try (ResultSet rs = md.getImportedKeys(null, "public", "orders")) {
        while (rs.next()) imported.add("[" + q(rs.getString("FKCOLUMN_NAME")) + "," + q(rs.getString("PKTABLE_NAME")) + "," + q(rs.getString("PKCOLUMN_NAME")) + "]");
      }
      emit("foreignKeys", "\"keys\":" + list(imported));

      List<String> totals = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT total FROM orders WHERE id = ?")) {
        for (int i = 1; i <= 8; i++) {
          ps.setInt(1, i);
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) totals.add(q(rs.getString(1)));
          }
        }
      }
      emit("prepared", "\"totals\":" + list(totals));

      List<String> ids = new ArrayList<>();
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.setFetchSize(3);
        try (ResultSet rs = st.executeQuery("SELECT id FROM orders ORDER BY id")) {
          while (rs.next()) ids.add(q(rs.getString(1)));
        }
      }
      c.commit();
      c.setAutoCommit(true);
      emit("fetchSize", "\"ids\":" + list(ids));

      List<String> rows = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT id, name, email, phone, card_number, ssn FROM customers WHERE id <= ? ORDER BY id")) {
        ps.setInt(1, 3);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (int i = 1; i <= 6; i++) row.add(q(rs.getString(i)));
            rows.add(list(row));
          }
        }
      }
      emit("masked", "\"rows\":" + list(rows));

      try (Statement st = c.createStatement()) {
        st.executeUpdate("DROP TABLE orders");
        emit("refusedWrite", "\"refused\":false");
      } catch (SQLException e) {
        emit("refusedWrite", "\"refused\":true,\"sqlState\":" + q(e.getSQLState()) + ",\"message\":" + q(e.getMessage()));
      }

      for (int i = 3; i < args.length; i++) {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT * FROM " + args[i])) {
          emit("closed", "\"relation\":" + q(args[i]) + ",\"refused\":false");
        } catch (SQLException e) {
          emit("closed", "\"relation\":" + q(args[i]) + ",\"refused\":true,\"message\":" + q(e.getMessage()));
        }
      }
    }
  }
}
